//! `clawless approvals notice`: how a tenant's approver notices are worded
//! ([`clawless_core::approvals::wording`]): a template for the part that says who asked and why,
//! and the optional model-written summary. The reply function reads them through a cache of at
//! most a minute, so a change shows in the notices within a minute, without a deploy.

use std::path::PathBuf;

use clap::{ArgGroup, Subcommand};
use clawless_core::approvals::wording::{
    DEFAULT_TEMPLATE, NoticeSettings, NoticeSettingsRepo, NoticeTemplate, Placeholder,
};
use clawless_core::domain::ids::TenantId;
use clawless_core::domain::model::now_ms;
use clawless_core::domain::visible::visible;
use serde_json::{Value, json};

use crate::admin::{Admin, AdminError};

#[derive(Subcommand)]
pub enum NoticeAction {
    /// Word the tenant's notices with a template, and/or turn the model-written summary on or
    /// off. The template words the part between the request's id and tool and the platform's view
    /// of the arguments; placeholders: {request_id} {tool} {risk} {requester} {reason} {expires}
    /// ({{ and }} for literal braces). Refused: commands (/approve …), the │ and └ marks, lines
    /// starting like the platform's (Arguments:, Tool:, …), invisible characters; at most 12
    /// lines and 1000 characters.
    #[command(group(ArgGroup::new("what").required(true).multiple(true).args(["text", "file", "summary"])))]
    Set {
        #[arg(long)]
        tenant: String,
        /// The template.
        #[arg(long, conflicts_with = "file")]
        text: Option<String>,
        /// A file holding the template (UTF-8).
        #[arg(long)]
        file: Option<PathBuf>,
        /// on | off: a short model-written summary of what the tool call would do, labelled as
        /// such; it decides nothing. Needs the stack's NoticeSummaryModelId (off by default).
        #[arg(long, value_parser = parse_switch)]
        summary: Option<bool>,
    },
    /// The tenant's template (or the default wording) and the summary switch.
    Show {
        #[arg(long)]
        tenant: String,
    },
    /// Back to the platform's notice: the default wording, no summary.
    Reset {
        #[arg(long)]
        tenant: String,
    },
}

/// `on`/`off` (also true/false, yes/no).
pub fn parse_switch(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("expected on or off, not {:?}", visible(raw))),
    }
}

async fn known_tenant(admin: &Admin, tenant: &str) -> Result<TenantId, AdminError> {
    let tenant_id = TenantId::parse(tenant.trim()).map_err(|e| AdminError::Invalid(e.to_string()))?;
    if admin.store().get_tenant(&tenant_id).await?.is_none() {
        return Err(AdminError::Invalid(format!("no tenant {tenant_id}")));
    }
    Ok(tenant_id)
}

/// The template from `--text` or `--file`, parsed (Windows line ends read as `\n`).
fn template_from(text: Option<String>, file: Option<PathBuf>) -> Result<Option<NoticeTemplate>, AdminError> {
    let source = match (text, file) {
        (Some(text), _) => text,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map_err(|e| AdminError::Invalid(format!("cannot read {}: {e}", path.display())))?,
        (None, None) => return Ok(None),
    };
    let source = source.replace("\r\n", "\n");
    NoticeTemplate::parse(&source)
        .map(Some)
        .map_err(|e| AdminError::Invalid(format!("template refused, nothing was changed: {e}")))
}

fn shown(tenant_id: &TenantId, settings: Option<&NoticeSettings>) -> (Value, String) {
    let template = settings.and_then(|s| s.template.clone());
    let summary = settings.is_some_and(|s| s.summary);
    // A template stored past the CLI that does not parse: the reply function words by default.
    let problem = settings.and_then(|s| s.parsed_template()).and_then(Result::err).map(|e| e.to_string());
    let placeholders: Vec<Value> =
        Placeholder::ALL.iter().map(|p| json!({"name": p.name(), "meaning": p.meaning()})).collect();
    let in_use = match (&template, &problem) {
        (Some(_), None) => "the tenant's template",
        (Some(_), Some(_)) => "the default wording (the stored template does not parse)",
        (None, _) => "the default wording",
    };
    let mut text = format!(
        "tenant {tenant_id}: approver notices use {in_use}; model-written summary {}\n{}",
        if summary { "on" } else { "off" },
        visible_lines(template.as_deref().unwrap_or(DEFAULT_TEMPLATE)),
    );
    if let Some(problem) = &problem {
        text.push_str(&format!("\nproblem: {problem}"));
    }
    (
        json!({
            "tenant_id": tenant_id,
            "template": template,
            "default": template.is_none() || problem.is_some(),
            "default_template": DEFAULT_TEMPLATE,
            "summary": summary,
            "problem": problem,
            "updated_at_ms": settings.and_then(|s| s.updated_at_ms),
            "placeholders": placeholders,
        }),
        text,
    )
}

/// A template for the terminal: each line indented, anything a terminal would act on escaped.
fn visible_lines(template: &str) -> String {
    template.split('\n').map(|l| format!("  | {}", visible(l))).collect::<Vec<_>>().join("\n")
}

pub async fn run(admin: &Admin, action: NoticeAction) -> Result<(Value, String), AdminError> {
    let store = admin.notices();
    let stored = |e| AdminError::Invalid(format!("{e}"));
    match action {
        NoticeAction::Set { tenant, text, file, summary } => {
            let template = template_from(text, file)?;
            let tenant_id = known_tenant(admin, &tenant).await?;
            let mut settings = store.get(&tenant_id).await.map_err(stored)?.unwrap_or_default();
            if let Some(t) = &template {
                settings.template = Some(t.source().to_owned());
            }
            if let Some(on) = summary {
                settings.summary = on;
            }
            settings.updated_by = Some("clawless-cli".into());
            settings.updated_at_ms = Some(now_ms());
            store.put(&tenant_id, &settings).await.map_err(stored)?;
            let (value, text) = shown(&tenant_id, Some(&settings));
            Ok((value, format!("{text}\n(the reply function picks this up within a minute)")))
        }
        NoticeAction::Show { tenant } => {
            let tenant_id = known_tenant(admin, &tenant).await?;
            // Shown even when malformed, so the operator can see and reset it.
            let settings = match store.get(&tenant_id).await {
                Ok(settings) => settings,
                Err(e @ clawless_core::approvals::wording::NoticeStoreError::Malformed { .. }) => {
                    return Err(AdminError::Invalid(format!("{e}; `approvals notice reset` removes it")));
                }
                Err(e) => return Err(stored(e)),
            };
            Ok(shown(&tenant_id, settings.as_ref()))
        }
        NoticeAction::Reset { tenant } => {
            let tenant_id = known_tenant(admin, &tenant).await?;
            let removed = store.delete(&tenant_id).await.map_err(stored)?;
            let (mut value, text) = shown(&tenant_id, None);
            value["reset"] = json!(removed);
            Ok((value, text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_and_templates_parse_before_anything_is_stored() {
        assert_eq!(parse_switch("ON"), Ok(true));
        assert_eq!(parse_switch("off"), Ok(false));
        assert!(parse_switch("maybe").is_err());
        let t = template_from(Some("Hallo {tool}\r\nBitte prüfen".into()), None).unwrap().unwrap();
        assert_eq!(t.source(), "Hallo {tool}\nBitte prüfen");
        let refused = template_from(Some("Klick /approve".into()), None).unwrap_err().to_string();
        assert!(refused.contains("nothing was changed") && refused.contains("/approve"), "{refused}");
        assert!(template_from(None, None).unwrap().is_none());
    }
}
