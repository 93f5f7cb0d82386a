//! The soak's verdict: from what reached the channel stand-ins (in order, per conversation), the
//! runs the model never answered, and the dead-letter queues, each message is answered exactly
//! once (by an echo that names it, or by the notice of a run the model never answered), or in a
//! DLQ; anything else is lost, duplicated or out of order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use clawless_agent::agent_loop::{LIMITS_ANSWER, MODEL_FAILED_ANSWER};
use clawless_agent::stand_ins::echo::markers;

/// Marker `soak-<c>-<k>` as (c, k).
pub fn parse_marker(marker: &str) -> Option<(usize, usize)> {
    let (c, k) = marker.strip_prefix("soak-")?.split_once('-')?;
    Some((c.parse().ok()?, k.parse().ok()?))
}

/// The text of message `k` of conversation `c`.
pub fn text(c: usize, k: usize) -> String {
    format!("question soak-{c}-{k} please")
}

/// One answer at the stand-ins: the messages it names, or a notice.
#[derive(Debug, Clone)]
pub enum Answer {
    Echo(Vec<usize>),
    Notice,
    Other(String),
}

pub fn classify(c: usize, text: &str) -> Answer {
    if text.starts_with("You said:") {
        Answer::Echo(
            markers(text).iter().filter_map(|m| parse_marker(m)).filter(|(cc, _)| *cc == c).map(|(_, k)| k).collect(),
        )
    } else if text == LIMITS_ANSWER || text == MODEL_FAILED_ANSWER {
        Answer::Notice
    } else {
        Answer::Other(text.to_owned())
    }
}

#[derive(Debug, Default)]
pub struct Verdict {
    pub sent: usize,
    pub answered_once: usize,
    /// Of those, answered by a notice (the model never answered their run).
    pub by_notice: usize,
    /// (c, k, queue, reason).
    pub in_dlq: Vec<(usize, usize, String, String)>,
    pub lost: Vec<(usize, usize)>,
    pub duplicated: Vec<(usize, usize)>,
    /// Answered twice with the same answer because a reply-function process was killed between
    /// the channel accepting the send and the function recording it ([`excuse_resends`]).
    pub resent_after_reply_kill: Vec<(usize, usize)>,
    pub out_of_order: Vec<(usize, usize)>,
    /// Answers that name no message of theirs, or notices no failed run explains.
    pub unexplained: Vec<String>,
}

/// Judges conversation `c` (messages `1..=sent`): `answers` in the order they reached the
/// channel, `failed_runs` the marker sets of its runs the model never answered (oldest key
/// first), `dlq` its messages found in a dead-letter queue with the queue and reason.
pub fn judge(
    verdict: &mut Verdict,
    c: usize,
    sent: usize,
    answers: &[Answer],
    failed_runs: &[Vec<usize>],
    dlq: &BTreeMap<usize, (String, String)>,
) {
    let mut times: BTreeMap<usize, usize> = BTreeMap::new();
    let mut noticed: BTreeSet<usize> = BTreeSet::new();
    // A failed run's notice may never come (its agent was killed first; the next message's run
    // takes its messages up): a notice answers the oldest failed run not yet answered otherwise.
    let mut runs: Vec<Option<&Vec<usize>>> = failed_runs.iter().map(Some).collect();
    let mut newest = 0usize;
    for answer in answers {
        let ks: Vec<usize> = match answer {
            Answer::Echo(ks) if !ks.is_empty() => ks.clone(),
            Answer::Echo(_) => {
                verdict.unexplained.push(format!("conversation {c}: an echo naming none of its messages"));
                continue;
            }
            // A run whose agent was killed sent no notice, and the next run took its messages up
            // again: a failed run whose open messages a later failed run holds too is skipped
            // for that later run, which sent the notice.
            Answer::Notice => match (0..runs.len())
                .find(|&i| {
                    let Some(run) = runs[i] else { return false };
                    let open: Vec<usize> = run.iter().copied().filter(|k| !times.contains_key(k)).collect();
                    !open.is_empty()
                        && !runs[i + 1..].iter().flatten().any(|later| open.iter().all(|k| later.contains(k)))
                })
                .and_then(|i| runs[i].take())
            {
                Some(run) => {
                    noticed.extend(run.iter().copied());
                    run.clone()
                }
                None => {
                    verdict.unexplained.push(format!("conversation {c}: a notice no failed model run explains"));
                    continue;
                }
            },
            Answer::Other(text) => {
                verdict.unexplained.push(format!("conversation {c}: unexpected answer {text:?}"));
                continue;
            }
        };
        for k in ks {
            let n = times.entry(k).or_default();
            *n += 1;
            if *n == 1 {
                if k < newest {
                    verdict.out_of_order.push((c, k));
                }
                newest = newest.max(k);
            }
        }
    }
    for k in 1..=sent {
        verdict.sent += 1;
        match times.get(&k).copied().unwrap_or(0) {
            1 => {
                verdict.answered_once += 1;
                if noticed.contains(&k) {
                    verdict.by_notice += 1;
                }
            }
            0 => match dlq.get(&k) {
                Some((queue, reason)) => verdict.in_dlq.push((c, k, queue.clone(), reason.clone())),
                None => verdict.lost.push((c, k)),
            },
            _ => verdict.duplicated.push((c, k)),
        }
    }
}

/// How long before a reply-function kill the first copy of a resent answer may have reached the
/// channel: the reply function records a send right after the channel accepts it, so a kill
/// that interrupts the record comes within the send's own invocation (its HTTP timeout is 10 s).
pub const RESEND_WINDOW: Duration = Duration::from_secs(15);

/// Moves the duplicates of conversation `c` that a reply-function kill explains from
/// `duplicated` to `resent_after_reply_kill`: exactly two copies, the same answer, the first
/// taken by the channel at most [`RESEND_WINDOW`] before a kill and the second after it. That is
/// the reply's at-least-once window: the send and the record of it cannot be one step when the
/// channel's send API takes no idempotency key (Telegram, Slack, WhatsApp and Discord follow-ups
/// take none), so a process killed between them sends that piece again on retry. Any other
/// duplicate stays a failure.
pub fn excuse_resends(verdict: &mut Verdict, c: usize, copies: &[(Answer, Instant)], reply_kills: &[Instant]) {
    let mut kept = Vec::new();
    for (cc, k) in std::mem::take(&mut verdict.duplicated) {
        let naming: Vec<&(Answer, Instant)> =
            copies.iter().filter(|(a, _)| matches!(a, Answer::Echo(ks) if ks.contains(&k))).collect();
        let excused = cc == c
            && naming.len() == 2
            && matches!((&naming[0].0, &naming[1].0), (Answer::Echo(a), Answer::Echo(b)) if a == b)
            && reply_kills.iter().any(|kill| {
                naming[0].1 <= *kill && *kill < naming[1].1 && kill.duration_since(naming[0].1) <= RESEND_WINDOW
            });
        if excused {
            verdict.resent_after_reply_kill.push((cc, k));
        } else {
            kept.push((cc, k));
        }
    }
    verdict.duplicated = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_each_message_once() {
        let dlq = BTreeMap::from([(5, ("InboundDeadLetterQueue".to_owned(), "why".to_owned()))]);
        let answers = vec![
            Answer::Echo(vec![1]),
            Answer::Notice,
            Answer::Echo(vec![3, 4]),
            Answer::Echo(vec![4]),
            Answer::Echo(vec![7]),
            Answer::Echo(vec![6]),
        ];
        let mut v = Verdict::default();
        judge(&mut v, 9, 8, &answers, &[vec![2]], &dlq);
        assert_eq!(v.sent, 8);
        assert_eq!(v.answered_once, 5, "1, 2 (by notice), 3, 6, 7");
        assert_eq!(v.by_notice, 1);
        assert_eq!(v.duplicated, [(9, 4)]);
        assert_eq!(v.out_of_order, [(9, 6)]);
        assert_eq!(v.in_dlq.len(), 1);
        assert_eq!(v.lost, [(9, 8)]);

        // Run [2] failed and its agent was killed before the notice: the next run answered 2 and
        // 3; the notice that came later is run [4]'s.
        let mut v = Verdict::default();
        let answers = [Answer::Echo(vec![1]), Answer::Echo(vec![2, 3]), Answer::Notice];
        judge(&mut v, 2, 4, &answers, &[vec![2], vec![4]], &BTreeMap::new());
        assert_eq!((v.answered_once, v.by_notice), (4, 1));
        assert!(v.duplicated.is_empty() && v.lost.is_empty());

        // Run [1] failed and its agent was killed; the next run took 1 up with 2 and failed too,
        // and its notice answers both (then run [4]'s notice answers 4).
        let mut v = Verdict::default();
        let answers = [Answer::Notice, Answer::Echo(vec![3]), Answer::Notice];
        judge(&mut v, 1, 4, &answers, &[vec![1], vec![1, 2], vec![4]], &BTreeMap::new());
        assert_eq!((v.answered_once, v.by_notice), (4, 3), "{v:?}");
        assert!(v.duplicated.is_empty() && v.lost.is_empty() && v.out_of_order.is_empty(), "{v:?}");

        let mut v = Verdict::default();
        judge(&mut v, 1, 1, &[Answer::Notice, Answer::Echo(vec![1])], &[], &BTreeMap::new());
        assert_eq!(v.unexplained.len(), 1, "a notice without a failed run is reported");
        assert_eq!(classify(3, "You said: soak-3-1 soak-4-2").clone_ks(), vec![1]);
    }

    #[test]
    fn only_a_resend_straddling_a_reply_kill_is_excused() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let copies = |second: Vec<usize>, when: u64| {
            vec![(Answer::Echo(vec![1]), at(0)), (Answer::Echo(vec![2]), at(2)), (Answer::Echo(second), at(when))]
        };
        let dup = |c| Verdict { duplicated: vec![(c, 1)], ..Verdict::default() };

        let mut v = dup(4);
        excuse_resends(&mut v, 4, &copies(vec![1], 30), &[at(1)]);
        assert_eq!((v.duplicated.len(), v.resent_after_reply_kill.clone()), (0, vec![(4, 1)]));

        // No kill between the copies, a kill long after the first send, a different answer the
        // second time (the agent ran again), another conversation's duplicate: all stay failures.
        for (copies, kills, c) in [
            (copies(vec![1], 30), vec![at(40)], 4),
            (copies(vec![1], 30), vec![at(20)], 4),
            (copies(vec![1, 2], 30), vec![at(1)], 4),
            (copies(vec![1], 30), vec![at(1)], 5),
        ] {
            let mut v = dup(4);
            excuse_resends(&mut v, c, &copies, &kills);
            assert_eq!((v.duplicated.len(), v.resent_after_reply_kill.len()), (1, 0));
        }
        // Three copies are never one resend.
        let mut v = dup(4);
        let mut three = copies(vec![1], 30);
        three.push((Answer::Echo(vec![1]), at(60)));
        excuse_resends(&mut v, 4, &three, &[at(1), at(45)]);
        assert_eq!(v.duplicated, [(4, 1)]);
    }

    impl Answer {
        fn clone_ks(&self) -> Vec<usize> {
            match self {
                Answer::Echo(ks) => ks.clone(),
                _ => vec![],
            }
        }
    }
}
