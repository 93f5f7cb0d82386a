//! Conversation lines: `{tenant}#CONV#{bot}#{channel}#{conversation}` / `MSG#{sent_at_ms:013}#{id}`,
//! a reply at `…#{id}#r{seq:03}` right after what it answers.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::*;

#[async_trait]
impl ConversationRepo for Store {
    async fn note_conversation(&self, conversation: &ConversationRef, at_ms: i64) -> Result<(), StoreError> {
        Store::note_conversation(self, conversation, at_ms).await
    }

    /// Stores an inbound message once: a redelivery of the same channel message is a `Duplicate`.
    async fn store_inbound(&self, item: &ConversationMessage) -> Result<StoreOutcome, StoreError> {
        let row = MessageItem::inbound(item, now_ms());
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&row)?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(StoreOutcome::Stored),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    let dispatched = c.item.as_ref().is_some_and(|old| old.contains_key("dispatched_at_ms"));
                    Ok(StoreOutcome::Duplicate { dispatched })
                }
                _ => Err(store_error("PutItem", &e)),
            },
        }
    }

    /// The newest `limit` lines of a conversation up to and including the line `until_sk` (all
    /// lines when `None`), oldest first.
    async fn recent_messages(
        &self,
        conversation: &ConversationRef,
        until_sk: Option<&str>,
        limit: i32,
    ) -> Result<Vec<MessageItem>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(conversation.partition_key()))
            .expression_attribute_values(":msg", s("MSG#"))
            .scan_index_forward(false)
            .limit(limit.max(1))
            .consistent_read(true);
        query = match until_sk {
            Some(until) => query
                .key_condition_expression("pk = :pk AND sk BETWEEN :msg AND :until")
                .expression_attribute_values(":until", s(until)),
            None => query.key_condition_expression("pk = :pk AND begins_with(sk, :msg)"),
        };
        let out = query.send().await.map_err(|e| store_error("Query", &e))?;
        let mut items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<MessageItem>("message", item))
            .collect::<Result<Vec<_>, _>>()?;
        items.reverse();
        Ok(items)
    }

    /// Stores a message handed to an agent with its dispatched mark: one PutItem of the whole
    /// line, on condition that no line with the mark is there (`attribute_not_exists` holds for
    /// a missing item too, so a first delivery is written and a context line or firing stored
    /// without the mark is replaced by the marked one). `false` if the delivery id was taken.
    async fn store_dispatched(&self, item: &ConversationMessage) -> Result<bool, StoreError> {
        self.put_dispatched(MessageItem::dispatched(item, now_ms())).await
    }

    /// The same put, the line carrying `fresh_start` (a `/new`).
    async fn store_fresh_start(&self, item: &ConversationMessage) -> Result<bool, StoreError> {
        self.put_dispatched(MessageItem { fresh_start: true, ..MessageItem::dispatched(item, now_ms()) }).await
    }

    /// Marks an inbound message answered by a run (idempotent; a missing message is ignored).
    async fn mark_answered(
        &self,
        conversation: &ConversationRef,
        sent_at_ms: i64,
        message_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(conversation.partition_key()))
            .key("sk", s(inbound_sort_key(sent_at_ms, message_id)))
            .update_expression("SET answered_at_ms = if_not_exists(answered_at_ms, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", AttributeValue::N(now_ms().to_string()))
            .send()
            .await;
        conditional(result).map(|_| ())
    }

    /// One stored inbound message of `conversation`, strongly consistent.
    async fn inbound_message(
        &self,
        conversation: &ConversationRef,
        sent_at_ms: i64,
        message_id: &str,
    ) -> Result<Option<MessageItem>, StoreError> {
        self.get_item("message", conversation.partition_key(), inbound_sort_key(sent_at_ms, message_id), true).await
    }
    /// Reads how far earlier attempts got with `reply` (one strongly consistent GetItem of its
    /// line), so a redelivered reply is sent once and a partly sent one resumes after its last
    /// recorded piece.
    ///
    /// Nothing is written before sending. A claim write would protect nothing: the reply queue is
    /// FIFO with one message group per conversation, so the same reply is never being delivered
    /// twice at once, and a claim never covered the last piece anyway (a crash between sending it
    /// and recording it repeats it, claim or not). The line is written once the last piece is
    /// sent ([`Store::record_reply`]), and after each earlier piece of a split answer.
    async fn reply_progress(
        &self,
        reply: &ReplyEnvelope,
        sender_name: &str,
    ) -> Result<(ReplyClaim, ReplyLine), StoreError> {
        let stored: Option<MessageItem> =
            self.get_item("reply", reply.conversation.partition_key(), reply_sort_key(reply), true).await?;
        let Some(old) = stored else { return Ok((ReplyClaim::New, ReplyLine::new(reply, sender_name))) };
        // The stored line (its time, sender, text) is kept; only state and ids change.
        let line = ReplyLine::stored(old);
        Ok((line.claim(), line))
    }

    /// Records how far sending a reply got: one PutItem of its whole line with `state` and the
    /// channel ids of the pieces sent.
    async fn record_reply(
        &self,
        line: &ReplyLine,
        state: ReplyState,
        channel_message_ids: &[String],
    ) -> Result<(), StoreError> {
        self.put_item(&line.recorded(state, channel_message_ids)).await
    }
}

impl Store {
    /// One conditional put of a dispatched line: written whole unless a line with the mark is
    /// there already (a line without it, context or a firing, is replaced).
    async fn put_dispatched(&self, row: MessageItem) -> Result<bool, StoreError> {
        conditional(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&row)?))
                .condition_expression("attribute_not_exists(dispatched_at_ms)")
                .send()
                .await,
        )
    }
}
