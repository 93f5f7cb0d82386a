//! template.yaml is the one definition of the platform's resources: the local run builds from
//! it, so these checks pin what both sides rely on.

use clawless_local::template::{Expr, Template};

#[test]
fn template_defines_the_six_functions_with_workspace_binaries() {
    let template = Template::load(&crate::support::repo_root().join("template.yaml")).unwrap();
    let mut binaries: Vec<_> = template.functions.iter().map(|f| f.binary.as_str()).collect();
    binaries.sort();
    assert_eq!(binaries, ["admin", "approval-timeout", "dispatcher", "reply", "scheduler", "webhook"]);
    // Every Binary is a [[bin]] of the workspace.
    for binary in binaries {
        let dir = if binary == "approval-timeout" { "approval-timeout".to_owned() } else { binary.to_owned() };
        let manifest =
            std::fs::read_to_string(crate::support::repo_root().join("functions").join(&dir).join("Cargo.toml"))
                .unwrap();
        assert!(manifest.contains(&format!("name = \"{binary}\"")), "functions/{dir} must build the {binary} binary");
    }
}

#[test]
fn queues_are_fifo_with_dead_letter_queues_and_mapped_with_partial_failures() {
    let template = Template::load(&crate::support::repo_root().join("template.yaml")).unwrap();
    for queue in ["InboundQueue", "ReplyQueue"] {
        let q = template.queues.iter().find(|q| q.logical_id == queue).unwrap();
        assert_eq!(q.attributes.get("FifoQueue").map(String::as_str), Some("true"), "{queue}");
        assert_eq!(q.attributes.get("ContentBasedDeduplication").map(String::as_str), Some("false"), "{queue}");
        let (dlq, max) = q.dead_letter_queue.clone().expect("a DLQ");
        assert!(max >= 1);
        let d = template.queues.iter().find(|d| d.logical_id == dlq).unwrap();
        assert_eq!(d.attributes.get("FifoQueue").map(String::as_str), Some("true"), "a FIFO queue needs a FIFO DLQ");
    }
    for (function, queue) in [("DispatcherFunction", "InboundQueue"), ("ReplyFunction", "ReplyQueue")] {
        let f = template.function(function).unwrap();
        assert_eq!(f.sqs.len(), 1);
        assert_eq!(f.sqs[0].queue_logical_id, queue);
        assert!(f.sqs[0].report_batch_item_failures, "{function} must report failures per message");
        let visibility: u64 =
            template.queues.iter().find(|q| q.logical_id == queue).unwrap().attributes["VisibilityTimeout"]
                .parse()
                .unwrap();
        assert!(visibility >= 6 * f.timeout_secs, "{queue} visibility must be at least 6x {function}'s timeout");
    }
    // The admin API: every method but OPTIONS (API Gateway answers preflights itself) under
    // /admin/v1/, with the user pool and app client of the template in its environment.
    let admin = template.function("AdminFunction").unwrap();
    let mut methods: Vec<_> = admin.routes.iter().map(|r| (r.path.as_str(), r.method.as_str())).collect();
    methods.sort();
    assert_eq!(
        methods,
        [
            ("/admin/v1/{proxy+}", "DELETE"),
            ("/admin/v1/{proxy+}", "GET"),
            ("/admin/v1/{proxy+}", "PATCH"),
            ("/admin/v1/{proxy+}", "POST"),
            ("/admin/v1/{proxy+}", "PUT")
        ]
    );
    assert!(matches!(admin.environment.get("CLAWLESS_COGNITO_USER_POOL_ID"), Some(Expr::Ref(p)) if p == "UserPool"));
    assert!(matches!(admin.environment.get("CLAWLESS_COGNITO_CLIENT_ID"), Some(Expr::Ref(c)) if c == "UserPoolClient"));
    assert_eq!(template.user_pools.len(), 1);
    let client = &template.user_pool_clients[0];
    assert!(
        !client.write_attributes.iter().any(|a| a.starts_with("custom:")),
        "the console's app client must not write the tenant or role: {:?}",
        client.write_attributes
    );
    let webhook = template.function("WebhookFunction").unwrap();
    assert!(webhook.routes.iter().any(|r| r.method == "POST" && r.path == "/webhook/{channel}/{bot_id}"));
    assert!(matches!(webhook.environment.get("CLAWLESS_INBOUND_QUEUE_URL"), Some(Expr::Ref(q)) if q == "InboundQueue"));
}

/// Tenant isolation in IAM: the agent's own role reaches no tenant data; the role it assumes per
/// tenant grants only what is keyed on the `tenant_id` session tag, and never channel secrets.
#[test]
fn agent_credentials_are_scoped_to_one_tenant() {
    let text = std::fs::read_to_string(crate::support::repo_root().join("template.yaml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let resources = &doc["Resources"];
    let statements = |role: &str| -> Vec<serde_yaml_ng::Value> {
        resources[role]["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap().clone())
            // A statement under a condition (`!If [cond, statement, !Ref AWS::NoValue]`) is
            // checked as the statement it grants when the condition holds.
            .map(|s| match s {
                serde_yaml_ng::Value::Tagged(t) if t.tag == "If" => t.value[1].clone(),
                other => other,
            })
            .collect()
    };
    let yaml = |v: &serde_yaml_ng::Value| serde_yaml_ng::to_string(v).unwrap();

    for statement in statements("AgentRole") {
        let actions = yaml(&statement["Action"]);
        for service in ["dynamodb:", "s3:", "ssm:", "secretsmanager:", "kms:", "sqs:", "sts:", "scheduler:"] {
            assert!(!actions.contains(service), "the agent's own role must not reach tenant data: {actions}");
        }
    }
    let tenant = statements("TenantAccessRole");
    assert!(!tenant.is_empty());
    for statement in &tenant {
        let actions = yaml(&statement["Action"]);
        if statement["Effect"].as_str() == Some("Deny") {
            // A deny takes away (the agent may never write skills); only grants must be keyed.
            continue;
        }
        if actions.trim() == "- iam:PassRole" || actions.trim() == "- sqs:SendMessage" {
            // Handing Scheduler its invoke-only role: no tenant data behind it. The reply queue
            // is shared; what goes on it is bound by scope tokens the reply function checks.
            continue;
        }
        let scoped = yaml(&statement["Resource"]) + &yaml(&statement["Condition"]);
        assert!(
            scoped.contains("aws:PrincipalTag/tenant_id"),
            "every grant is keyed on the tenant tag: {actions} {scoped}"
        );
        assert!(!scoped.contains("/channels"), "no channel secrets: {scoped}");
        if actions.contains("dynamodb:") {
            assert!(yaml(&statement["Condition"]).contains("dynamodb:LeadingKeys"), "{scoped}");
        }
    }
    let trust = yaml(&resources["TenantAccessRole"]["Properties"]["AssumeRolePolicyDocument"]);
    assert!(trust.contains("sts:TagSession") && trust.contains("aws:RequestTag/tenant_id"), "{trust}");
    assert!(trust.contains("DispatcherFunctionRole"), "only the dispatcher may assume it: {trust}");
    assert!(!trust.contains("AgentRole"), "never the microVM's own role: {trust}");
    assert!(trust.contains("aws:RequestTag/bot_id"), "{trust}");
}
