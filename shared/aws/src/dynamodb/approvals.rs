//! Approval items: the approver `TENANT#{t}` / `APPROVER`; requests `{t}#APPROVAL` / `REQ#{id}`;
//! "held back" markers `{t}#APPROVAL` / `HELD#{conversation digest}#{window}`; grants
//! `{t}#GRANT` / `TOOL#{tool}#USER#{channel}:{user}`. An agent's credentials may read its
//! tenant's grants and nothing else here: no approver, request or grant is written by an agent.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use clawless_core::approvals::{ApproverConfig, Decided, Grant};
use clawless_core::domain::ids::short_digest;
use clawless_core::domain::permissions::{DecisionRecord, RequestStatus};

use super::*;

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

#[derive(Serialize, Deserialize)]
struct ApproverItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    approver: ApproverConfig,
}

#[derive(Serialize, Deserialize)]
struct GrantItem {
    pk: String,
    sk: String,
    request_id: String,
    granted_by: String,
    expires_at_ms: i64,
    /// TTL (seconds).
    expires_at: i64,
}

fn request_key(tenant: &TenantId, request_id: &str) -> (String, String) {
    (format!("{tenant}#APPROVAL"), format!("REQ#{request_id}"))
}

fn grant_key(tenant: &TenantId, tool: &str, user: &str) -> (String, String) {
    (format!("{tenant}#GRANT"), format!("TOOL#{tool}#USER#{user}"))
}

/// The marker of "held back" messages for `request`'s conversation in the window holding `now`:
/// (`{tenant}#APPROVAL`, `HELD#{conversation digest}#{window number}`).
fn held_key(request: &PermissionRequest, window: i64) -> (String, String) {
    let conversation = short_digest(&[&request.conversation.partition_key()]);
    (format!("{}#APPROVAL", request.conversation.tenant_id), format!("HELD#{conversation}#{window}"))
}

#[async_trait]
impl ApprovalRepo for Store {
    async fn put_approver(&self, approver: &ApproverConfig) -> Result<(), StoreError> {
        let item = ApproverItem {
            pk: format!("TENANT#{}", approver.tenant_id),
            sk: "APPROVER".into(),
            approver: approver.clone(),
        };
        self.put_item(&item).await
    }

    async fn approver(&self, tenant: &TenantId) -> Result<Option<ApproverConfig>, StoreError> {
        let item: Option<ApproverItem> =
            self.get_item("approver", format!("TENANT#{tenant}"), "APPROVER".into(), false).await?;
        Ok(item.map(|a| a.approver))
    }

    async fn request(&self, tenant: &TenantId, request_id: &str) -> Result<Option<PermissionRequest>, StoreError> {
        let (pk, sk) = request_key(tenant, request_id);
        let item: Option<PermissionRequestItem> = self.get_item("permission request", pk, sk, true).await?;
        Ok(item.map(|r| r.request))
    }

    /// Moves a pending, unexpired request to `status` with `decision`, in one conditional write.
    /// `expired_ok` lets the timeout expire a request whose time is up.
    async fn decide(
        &self,
        tenant: &TenantId,
        request_id: &str,
        status: RequestStatus,
        decision: &DecisionRecord,
        expired_ok: bool,
    ) -> Result<Decided, StoreError> {
        let (client, table) = (&self.client, &self.table);
        let (pk, sk) = request_key(tenant, request_id);
        let decision_item = serde_dynamo::to_attribute_value(decision)
            .map_err(|e| StoreError::Corrupt { what: "decision", detail: e.to_string() })?;
        let status_av = serde_dynamo::to_attribute_value(status)
            .map_err(|e| StoreError::Corrupt { what: "status", detail: e.to_string() })?;
        let condition = if expired_ok {
            "attribute_exists(pk) AND #status = :pending"
        } else {
            "attribute_exists(pk) AND #status = :pending AND expires_at_ms > :now"
        };
        let mut update = client
            .update_item()
            .table_name(table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET #status = :status, decision = :decision")
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", status_av)
            .expression_attribute_values(":decision", decision_item)
            .expression_attribute_values(":pending", s("pending"));
        if !expired_ok {
            update = update.expression_attribute_values(":now", n(decision.at_ms));
        }
        if conditional(update.send().await)? {
            let request = self
                .request(tenant, request_id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("permission request {request_id}")))?;
            return Ok(Decided::Now(request));
        }
        Ok(match self.request(tenant, request_id).await? {
            None => Decided::NotFound,
            Some(r) if r.status == RequestStatus::Pending => Decided::Expired(r),
            Some(r) => Decided::Already(r),
        })
    }

    async fn put_grant(
        &self,
        request: &PermissionRequest,
        granted_by: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        let user = format!("{}:{}", request.conversation.channel, request.requester_id);
        let (pk, sk) = grant_key(&request.conversation.tenant_id, &request.tool, &user);
        let item = GrantItem {
            pk,
            sk,
            request_id: request.request_id.to_string(),
            granted_by: granted_by.to_owned(),
            expires_at_ms,
            expires_at: expires_at_ms / 1000,
        };
        self.put_item(&item).await
    }

    /// A temporary grant of `wanted`'s tool to its requester, if one is in force (the agent's
    /// credentials may read grants; the approve-once grant reaches a run in its invocation).
    async fn temporary_grant(&self, wanted: &PermissionRequest, now: i64) -> Result<Option<Grant>, StoreError> {
        let tenant = &wanted.conversation.tenant_id;
        let user = format!("{}:{}", wanted.conversation.channel, wanted.requester_id);
        let (pk, sk) = grant_key(tenant, &wanted.tool, &user);
        let grant = self.get_item::<GrantItem>("grant", pk, sk, true).await?;
        // TTL deletion lags; the expiry time is what counts.
        Ok(grant
            .filter(|g| g.expires_at_ms > now)
            .map(|g| Grant::Temporary { request_id: g.request_id, expires_at_ms: g.expires_at_ms }))
    }

    /// Hands the approve-once decision of `request_id` to the run that answers `message_id` (the
    /// platform message that resumes it, on behalf of `requester` in `conversation`): marks it used
    /// by that message, in one conditional write, so it reaches one run however often the message
    /// is redelivered. `None` if there is nothing usable.
    async fn mark_noticed(&self, tenant: &TenantId, request_id: &str) -> Result<bool, StoreError> {
        let (client, table) = (&self.client, &self.table);
        let (pk, sk) = request_key(tenant, request_id);
        let result = client
            .update_item()
            .table_name(table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET noticed_at_ms = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(noticed_at_ms)")
            .expression_attribute_values(":now", n(now_ms()))
            .send()
            .await;
        conditional(result)
    }

    /// Stores a permission request once (`{tenant}#APPROVAL` / `REQ#{id}`); `false` if it was
    /// already stored (a redone run).
    async fn put_request(&self, request: &PermissionRequest) -> Result<bool, StoreError> {
        let item = PermissionRequestItem {
            pk: format!("{}#APPROVAL", request.conversation.tenant_id),
            sk: format!("REQ#{}", request.request_id),
            expires_at: request.expires_at_ms / 1000 + MESSAGE_RETENTION_SECS,
            request: request.clone(),
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional(result)
    }

    /// A tenant's permission requests, oldest first.
    async fn requests(&self, tenant_id: &TenantId) -> Result<Vec<PermissionRequest>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :req)")
            .expression_attribute_values(":pk", s(format!("{tenant_id}#APPROVAL")))
            .expression_attribute_values(":req", s("REQ#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("Query", &e))?;
        let mut requests = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<PermissionRequestItem>("permission request", item).map(|i| i.request))
            .collect::<Result<Vec<_>, _>>()?;
        requests.sort_by_key(|r| r.created_at_ms);
        Ok(requests)
    }

    /// The tenant's pending, unexpired requests, oldest first (every page, filtered in the query).
    async fn pending_requests(&self, tenant: &TenantId, now: i64) -> Result<Vec<PermissionRequest>, StoreError> {
        let (client, table) = (&self.client, &self.table);
        let mut requests = Vec::new();
        let mut start = None;
        loop {
            let out = client
                .query()
                .table_name(table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :req)")
                .filter_expression("#status = :pending AND expires_at_ms > :now")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pk", s(format!("{tenant}#APPROVAL")))
                .expression_attribute_values(":req", s("REQ#"))
                .expression_attribute_values(":pending", s("pending"))
                .expression_attribute_values(":now", n(now))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("Query", &e))?;
            for item in out.items.unwrap_or_default() {
                let item: PermissionRequestItem = from_item("permission request", item)?;
                requests.push(item.request);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        requests.sort_by(|a, b| (a.created_at_ms, &a.request_id).cmp(&(b.created_at_ms, &b.request_id)));
        Ok(requests)
    }

    /// Claims the conversation's one "held back" message of this window for `request`, in one
    /// conditional write. `true` if it is `request`'s to send (first held back this window, or a
    /// redelivery of that same report: the reply function sends the message once by its id).
    async fn claim_held_notice(
        &self,
        request: &PermissionRequest,
        window: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let (client, table) = (&self.client, &self.table);
        let (pk, sk) = held_key(request, window);
        let result = client
            .put_item()
            .table_name(table)
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("request_id", s(request.request_id.as_str()))
            .item("window", n(window))
            .item("expires_at", n(expires_at))
            .condition_expression("attribute_not_exists(pk) OR request_id = :id")
            .expression_attribute_values(":id", s(request.request_id.as_str()))
            .send()
            .await;
        conditional(result)
    }

    async fn mark_once_used(
        &self,
        tenant: &TenantId,
        request_id: &str,
        message_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = request_key(tenant, request_id);
        let used = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(
                "SET used_at_ms = if_not_exists(used_at_ms, :now), used_by = if_not_exists(used_by, :msg)",
            )
            .condition_expression("attribute_not_exists(used_at_ms) OR used_by = :msg")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":msg", s(message_id))
            .send()
            .await;
        conditional(used)
    }
}

#[cfg(test)]
mod tests {
    use clawless_core::testing::{NOW, conversation, message};

    use super::*;

    fn request(chat: &str) -> PermissionRequest {
        let item = message(chat, "1", "run it", NOW);
        PermissionRequest::new(&conversation(chat), &item.message, "shell", &serde_json::json!({}), "why", NOW, 60_000)
    }

    #[test]
    fn the_held_back_marker_is_per_conversation_and_window() {
        let r = request("100");
        let (pk, sk) = held_key(&r, 10);
        assert_eq!(pk, "t0123456789abcdef0123#APPROVAL");
        assert!(sk.starts_with("HELD#") && sk.ends_with("#10"), "{sk}");
        assert!(!sk.starts_with("REQ#"), "never listed as a request");
        assert_ne!(held_key(&r, 11).1, sk);
        assert_ne!(held_key(&request("200"), 10).1, sk, "another conversation");
    }
}
