//! Reads `template.yaml` into what the local run needs: tables, queues, parameters, functions,
//! HTTP routes and SQS event-source mappings. The template is the one definition of the
//! platform's resources; the local run recreates them from it, so local and deployed cannot drift.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::Value;
use serde_yaml_ng::value::TaggedValue;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template.yaml: {at}: {problem}")]
    Unsupported { at: String, problem: String },
}

fn unsupported(at: impl Into<String>, problem: impl Into<String>) -> TemplateError {
    TemplateError::Unsupported { at: at.into(), problem: problem.into() }
}

/// An intrinsic-bearing value, kept unresolved until the resources it names exist.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(String),
    Ref(String),
    GetAtt(String, String),
    /// `!Sub` text split into literal text and `${Name}` / `${Name.Attr}` references.
    Sub(Vec<SubPart>),
    /// `!If [Condition, then, else]`, decided by the template's [`Condition`] of that name.
    If(String, Box<Expr>, Box<Expr>),
}

/// A template condition, as far as the local run evaluates them: `!Equals` of two values and
/// `!Not` of a condition. Any other shape is kept as its problem and fails only if used.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Equals(Expr, Expr),
    Not(Box<Condition>),
    Unsupported(String),
}

impl Condition {
    fn parse(value: &Value, at: &str) -> Condition {
        let Value::Tagged(tagged) = value else { return Condition::Unsupported(format!("{at}: not an intrinsic")) };
        let args = tagged.value.as_sequence().map(Vec::as_slice).unwrap_or_default();
        match (tagged.tag.to_string().trim_start_matches('!'), args) {
            ("Equals", [a, b]) => match (Expr::parse(a, at), Expr::parse(b, at)) {
                (Ok(a), Ok(b)) => Condition::Equals(a, b),
                _ => Condition::Unsupported(format!("{at}: !Equals of unsupported values")),
            },
            ("Not", [inner]) => Condition::Not(Box::new(Condition::parse(inner, at))),
            (other, _) => Condition::Unsupported(format!("{at}: !{other} is not supported by the local run")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SubPart {
    Text(String),
    Ref(String),
    GetAtt(String, String),
}

impl Expr {
    fn parse(value: &Value, at: &str) -> Result<Expr, TemplateError> {
        match value {
            Value::String(s) => Ok(Expr::Literal(s.clone())),
            Value::Number(n) => Ok(Expr::Literal(n.to_string())),
            Value::Bool(b) => Ok(Expr::Literal(b.to_string())),
            Value::Tagged(tagged) => Self::parse_tagged(tagged, at),
            other => Err(unsupported(at, format!("expected a scalar or intrinsic, found {other:?}"))),
        }
    }

    fn parse_tagged(tagged: &TaggedValue, at: &str) -> Result<Expr, TemplateError> {
        let tag = tagged.tag.to_string();
        if tag.trim_start_matches('!') == "If" {
            let Some([Value::String(condition), then, otherwise]) = tagged.value.as_sequence().map(Vec::as_slice)
            else {
                return Err(unsupported(at, "!If needs [Condition, value, value]"));
            };
            return Ok(Expr::If(
                condition.clone(),
                Box::new(Expr::parse(then, at)?),
                Box::new(Expr::parse(otherwise, at)?),
            ));
        }
        let text = tagged.value.as_str().ok_or_else(|| unsupported(at, format!("{tag} needs a string argument")))?;
        match tag.trim_start_matches('!') {
            "Ref" => Ok(Expr::Ref(text.to_owned())),
            "GetAtt" => {
                let (name, attr) = text.split_once('.').ok_or_else(|| unsupported(at, "!GetAtt needs Name.Attr"))?;
                Ok(Expr::GetAtt(name.to_owned(), attr.to_owned()))
            }
            "Sub" => Ok(Expr::Sub(parse_sub(text, at)?)),
            other => Err(unsupported(at, format!("intrinsic !{other} is not supported by the local run"))),
        }
    }
}

fn parse_sub(text: &str, at: &str) -> Result<Vec<SubPart>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            parts.push(SubPart::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| unsupported(at, "unclosed ${ in !Sub"))?;
        let name = &after[..end];
        if let Some(literal) = name.strip_prefix('!') {
            parts.push(SubPart::Text(format!("${{{literal}}}")));
        } else if let Some((res, attr)) = name.split_once('.') {
            parts.push(SubPart::GetAtt(res.to_owned(), attr.to_owned()));
        } else {
            parts.push(SubPart::Ref(name.to_owned()));
        }
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(SubPart::Text(rest.to_owned()));
    }
    Ok(parts)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub logical_id: String,
    pub name: Expr,
    pub hash_key: String,
    pub range_key: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    pub logical_id: String,
    pub name: Expr,
    /// SQS attributes other than the redrive policy, as SQS names them.
    pub attributes: BTreeMap<String, String>,
    pub dead_letter_queue: Option<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub logical_id: String,
    pub name: Expr,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub method: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqsMapping {
    pub queue_logical_id: String,
    pub batch_size: u32,
    pub report_batch_item_failures: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub logical_id: String,
    pub binary: String,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub environment: BTreeMap<String, Expr>,
    pub routes: Vec<Route>,
    pub sqs: Vec<SqsMapping>,
}

/// A Cognito user pool: its name and the custom attributes of its schema (without `custom:`).
#[derive(Debug, Clone, PartialEq)]
pub struct UserPool {
    pub logical_id: String,
    pub name: Expr,
    /// `UsernameAttributes` (e.g. `email`: users sign in with it; their username is generated).
    pub username_attributes: Vec<String>,
    pub custom_attributes: Vec<CustomAttribute>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomAttribute {
    pub name: String,
    /// `String` or `Number`.
    pub data_type: String,
    pub mutable: bool,
}

/// An app client of a user pool of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPoolClient {
    pub logical_id: String,
    pub name: Expr,
    /// The logical id of its user pool (`UserPoolId: !Ref Pool`).
    pub user_pool: String,
    pub explicit_auth_flows: Vec<String>,
    pub read_attributes: Vec<String>,
    pub write_attributes: Vec<String>,
}

/// A group of a user pool of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPoolGroup {
    pub logical_id: String,
    pub name: Expr,
    pub user_pool: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentRuntime {
    pub logical_id: String,
    pub environment: BTreeMap<String, Expr>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Template {
    pub parameter_defaults: BTreeMap<String, String>,
    /// The template's conditions by name (for `!If`).
    pub conditions: BTreeMap<String, Condition>,
    pub tables: Vec<Table>,
    pub queues: Vec<Queue>,
    pub parameters: Vec<Parameter>,
    pub schedule_groups: Vec<(String, Expr)>,
    /// S3 buckets: (logical id, bucket name).
    pub buckets: Vec<(String, Expr)>,
    /// Secrets Manager secrets with a generated value: (logical id, secret name).
    pub secrets: Vec<(String, Expr)>,
    pub functions: Vec<Function>,
    pub agent_runtimes: Vec<AgentRuntime>,
    pub http_apis: Vec<String>,
    pub user_pools: Vec<UserPool>,
    pub user_pool_clients: Vec<UserPoolClient>,
    pub user_pool_groups: Vec<UserPoolGroup>,
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping().and_then(|m| m.get(key))
}

fn get_str(value: &Value, key: &str) -> Option<String> {
    match get(value, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get_u64(value: &Value, key: &str) -> Option<u64> {
    get(value, key).and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
}

fn environment(props: &Value, at: &str) -> Result<BTreeMap<String, Expr>, TemplateError> {
    let mut env = BTreeMap::new();
    if let Some(vars) = get(props, "Environment").and_then(|e| get(e, "Variables")).and_then(Value::as_mapping) {
        for (k, v) in vars {
            let key = k.as_str().ok_or_else(|| unsupported(at, "environment keys must be strings"))?;
            env.insert(key.to_owned(), Expr::parse(v, &format!("{at}.Environment.{key}"))?);
        }
    }
    Ok(env)
}

/// SQS attribute names for the CloudFormation properties the local run reproduces.
const QUEUE_ATTRIBUTES: [&str; 8] = [
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
];

impl Template {
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TemplateError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let doc: Value = serde_yaml_ng::from_str(text)?;
        let mut template = Template::default();

        if let Some(params) = get(&doc, "Parameters").and_then(Value::as_mapping) {
            for (name, spec) in params {
                if let (Some(name), Some(default)) = (name.as_str(), get_str(spec, "Default")) {
                    template.parameter_defaults.insert(name.to_owned(), default);
                }
            }
        }

        if let Some(conditions) = get(&doc, "Conditions").and_then(Value::as_mapping) {
            for (name, value) in conditions {
                if let Some(name) = name.as_str() {
                    template.conditions.insert(name.to_owned(), Condition::parse(value, &format!("Conditions.{name}")));
                }
            }
        }

        let globals = get(&doc, "Globals").and_then(|g| get(g, "Function")).cloned().unwrap_or(Value::Null);
        let global_env = environment(&globals, "Globals.Function")?;
        let global_timeout = get_u64(&globals, "Timeout").unwrap_or(3);
        let global_memory = get_u64(&globals, "MemorySize").unwrap_or(128);

        let resources =
            get(&doc, "Resources").and_then(Value::as_mapping).ok_or_else(|| unsupported("Resources", "missing"))?;
        for (id, resource) in resources {
            let id = id.as_str().ok_or_else(|| unsupported("Resources", "logical ids must be strings"))?.to_owned();
            let kind = get_str(resource, "Type").unwrap_or_default();
            let props = get(resource, "Properties").cloned().unwrap_or(Value::Null);
            let at = format!("Resources.{id}");
            match kind.as_str() {
                "AWS::DynamoDB::Table" => template.tables.push(parse_table(&id, &props, &at)?),
                "AWS::SQS::Queue" => template.queues.push(parse_queue(&id, &props, &at)?),
                "AWS::SSM::Parameter" => template.parameters.push(Parameter {
                    logical_id: id.clone(),
                    name: Expr::parse(get(&props, "Name").ok_or_else(|| unsupported(&at, "Name is required"))?, &at)?,
                    value: Expr::parse(
                        get(&props, "Value").ok_or_else(|| unsupported(&at, "Value is required"))?,
                        &at,
                    )?,
                }),
                "AWS::Scheduler::ScheduleGroup" => {
                    let name = get(&props, "Name").ok_or_else(|| unsupported(&at, "Name is required"))?;
                    template.schedule_groups.push((id.clone(), Expr::parse(name, &at)?));
                }
                "AWS::S3::Bucket" => {
                    let name = get(&props, "BucketName").ok_or_else(|| unsupported(&at, "BucketName is required"))?;
                    template.buckets.push((id.clone(), Expr::parse(name, &at)?));
                }
                "AWS::SecretsManager::Secret" => {
                    let name = get(&props, "Name").ok_or_else(|| unsupported(&at, "Name is required"))?;
                    if get(&props, "GenerateSecretString").is_none() {
                        return Err(unsupported(&at, "only generated secrets (GenerateSecretString) are supported"));
                    }
                    template.secrets.push((id.clone(), Expr::parse(name, &at)?));
                }
                "AWS::Serverless::HttpApi" => template.http_apis.push(id.clone()),
                "AWS::Cognito::UserPool" => template.user_pools.push(parse_user_pool(&id, &props, &at)?),
                "AWS::Cognito::UserPoolClient" => {
                    template.user_pool_clients.push(UserPoolClient {
                        logical_id: id.clone(),
                        name: Expr::parse(
                            get(&props, "ClientName").ok_or_else(|| unsupported(&at, "ClientName is required"))?,
                            &at,
                        )?,
                        user_pool: user_pool_ref(&props, &at)?,
                        explicit_auth_flows: strings(&props, "ExplicitAuthFlows"),
                        read_attributes: strings(&props, "ReadAttributes"),
                        write_attributes: strings(&props, "WriteAttributes"),
                    });
                }
                "AWS::Cognito::UserPoolGroup" => template.user_pool_groups.push(UserPoolGroup {
                    logical_id: id.clone(),
                    name: Expr::parse(
                        get(&props, "GroupName").ok_or_else(|| unsupported(&at, "GroupName is required"))?,
                        &at,
                    )?,
                    user_pool: user_pool_ref(&props, &at)?,
                }),
                "AWS::BedrockAgentCore::Runtime" => {
                    let mut env = BTreeMap::new();
                    if let Some(vars) = get(&props, "EnvironmentVariables").and_then(Value::as_mapping) {
                        for (k, v) in vars {
                            let key = k.as_str().unwrap_or_default().to_owned();
                            env.insert(key.clone(), Expr::parse(v, &format!("{at}.EnvironmentVariables.{key}"))?);
                        }
                    }
                    template.agent_runtimes.push(AgentRuntime { logical_id: id.clone(), environment: env });
                }
                "AWS::Serverless::Function" => template.functions.push(parse_function(
                    &id,
                    resource,
                    &props,
                    &global_env,
                    global_timeout,
                    global_memory,
                )?),
                // IAM, log groups and the like have no local counterpart.
                _ => {}
            }
        }
        Ok(template)
    }

    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }
}

/// A list of plain strings (`ExplicitAuthFlows`, `ReadAttributes`, ...); absent: empty.
fn strings(props: &Value, key: &str) -> Vec<String> {
    get(props, key)
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// `UserPoolId: !Ref Pool`: the pool's logical id.
fn user_pool_ref(props: &Value, at: &str) -> Result<String, TemplateError> {
    let pool = get(props, "UserPoolId").ok_or_else(|| unsupported(at, "UserPoolId is required"))?;
    match Expr::parse(pool, at)? {
        Expr::Ref(id) => Ok(id),
        _ => Err(unsupported(at, "UserPoolId must be !Ref of a user pool of the template")),
    }
}

fn parse_user_pool(id: &str, props: &Value, at: &str) -> Result<UserPool, TemplateError> {
    let name = Expr::parse(get(props, "UserPoolName").ok_or_else(|| unsupported(at, "UserPoolName is required"))?, at)?;
    let mut custom_attributes = Vec::new();
    for attribute in get(props, "Schema").and_then(Value::as_sequence).into_iter().flatten() {
        let name = get_str(attribute, "Name").ok_or_else(|| unsupported(at, "a Schema attribute needs a Name"))?;
        custom_attributes.push(CustomAttribute {
            name: name.trim_start_matches("custom:").to_owned(),
            data_type: get_str(attribute, "AttributeDataType").unwrap_or_else(|| "String".into()),
            mutable: get_str(attribute, "Mutable").is_none_or(|m| m == "true"),
        });
    }
    Ok(UserPool {
        logical_id: id.to_owned(),
        name,
        username_attributes: strings(props, "UsernameAttributes"),
        custom_attributes,
    })
}

fn parse_table(id: &str, props: &Value, at: &str) -> Result<Table, TemplateError> {
    let name = Expr::parse(get(props, "TableName").ok_or_else(|| unsupported(at, "TableName is required"))?, at)?;
    let mut hash_key = None;
    let mut range_key = None;
    for key in get(props, "KeySchema").and_then(Value::as_sequence).into_iter().flatten() {
        let attr = get_str(key, "AttributeName").unwrap_or_default();
        match get_str(key, "KeyType").as_deref() {
            Some("HASH") => hash_key = Some(attr),
            Some("RANGE") => range_key = Some(attr),
            _ => return Err(unsupported(at, "KeySchema entries need KeyType HASH or RANGE")),
        }
    }
    if get(props, "GlobalSecondaryIndexes").is_some() || get(props, "LocalSecondaryIndexes").is_some() {
        return Err(unsupported(at, "secondary indexes are not reproduced by the local run yet"));
    }
    let attributes = get(props, "AttributeDefinitions")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|a| (get_str(a, "AttributeName").unwrap_or_default(), get_str(a, "AttributeType").unwrap_or_default()))
        .collect();
    let ttl_attribute = get(props, "TimeToLiveSpecification")
        .filter(|t| get_str(t, "Enabled").as_deref() == Some("true"))
        .and_then(|t| get_str(t, "AttributeName"));
    Ok(Table {
        logical_id: id.to_owned(),
        name,
        hash_key: hash_key.ok_or_else(|| unsupported(at, "KeySchema needs a HASH key"))?,
        range_key,
        attributes,
        ttl_attribute,
    })
}

fn parse_queue(id: &str, props: &Value, at: &str) -> Result<Queue, TemplateError> {
    let name = Expr::parse(get(props, "QueueName").ok_or_else(|| unsupported(at, "QueueName is required"))?, at)?;
    let mut attributes = BTreeMap::new();
    for key in QUEUE_ATTRIBUTES {
        if let Some(v) = get_str(props, key) {
            attributes.insert(key.to_owned(), v);
        }
    }
    let dead_letter_queue = match get(props, "RedrivePolicy") {
        None => None,
        Some(policy) => {
            let target = get(policy, "deadLetterTargetArn")
                .ok_or_else(|| unsupported(at, "RedrivePolicy needs deadLetterTargetArn"))?;
            let Expr::GetAtt(dlq, attr) = Expr::parse(target, at)? else {
                return Err(unsupported(at, "deadLetterTargetArn must be !GetAtt Queue.Arn"));
            };
            if attr != "Arn" {
                return Err(unsupported(at, "deadLetterTargetArn must be !GetAtt Queue.Arn"));
            }
            let max = get_u64(policy, "maxReceiveCount")
                .ok_or_else(|| unsupported(at, "RedrivePolicy needs maxReceiveCount"))?;
            Some((dlq, max as u32))
        }
    };
    Ok(Queue { logical_id: id.to_owned(), name, attributes, dead_letter_queue })
}

fn parse_function(
    id: &str,
    resource: &Value,
    props: &Value,
    global_env: &BTreeMap<String, Expr>,
    global_timeout: u64,
    global_memory: u64,
) -> Result<Function, TemplateError> {
    let at = format!("Resources.{id}");
    let binary = get(resource, "Metadata")
        .and_then(|m| get(m, "BuildProperties"))
        .and_then(|b| get_str(b, "Binary"))
        .ok_or_else(|| unsupported(&at, "Metadata.BuildProperties.Binary is required"))?;
    let mut environment = global_env.clone();
    environment.extend(self::environment(props, &at)?);
    let mut routes = Vec::new();
    let mut sqs = Vec::new();
    for (name, event) in get(props, "Events").and_then(Value::as_mapping).into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        let event_at = format!("{at}.Events.{name}");
        let event_props = get(event, "Properties").cloned().unwrap_or(Value::Null);
        match get_str(event, "Type").as_deref() {
            Some("HttpApi") => {
                if let Some(version) = get_str(&event_props, "PayloadFormatVersion")
                    && version != "2.0"
                {
                    return Err(unsupported(&event_at, "only payload format 2.0 is reproduced locally"));
                }
                routes.push(Route {
                    method: get_str(&event_props, "Method").unwrap_or_else(|| "ANY".into()).to_uppercase(),
                    path: get_str(&event_props, "Path").ok_or_else(|| unsupported(&event_at, "Path is required"))?,
                });
            }
            Some("SQS") => {
                let queue = get(&event_props, "Queue").ok_or_else(|| unsupported(&event_at, "Queue is required"))?;
                let Expr::GetAtt(queue_id, attr) = Expr::parse(queue, &event_at)? else {
                    return Err(unsupported(&event_at, "Queue must be !GetAtt Queue.Arn"));
                };
                if attr != "Arn" {
                    return Err(unsupported(&event_at, "Queue must be !GetAtt Queue.Arn"));
                }
                let types = get(&event_props, "FunctionResponseTypes").and_then(Value::as_sequence);
                sqs.push(SqsMapping {
                    queue_logical_id: queue_id,
                    batch_size: get_u64(&event_props, "BatchSize").unwrap_or(10) as u32,
                    report_batch_item_failures: types
                        .is_some_and(|t| t.iter().any(|v| v.as_str() == Some("ReportBatchItemFailures"))),
                });
            }
            Some(other) => return Err(unsupported(&event_at, format!("event type {other} is not reproduced locally"))),
            None => return Err(unsupported(&event_at, "Type is required")),
        }
    }
    Ok(Function {
        logical_id: id.to_owned(),
        binary,
        timeout_secs: get_u64(props, "Timeout").unwrap_or(global_timeout),
        memory_mb: get_u64(props, "MemorySize").unwrap_or(global_memory),
        environment,
        routes,
        sqs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_is_split_into_parts() {
        let parts = parse_sub("arn:${AWS::Partition}:x:${Queue.Arn}/${!Literal}", "t").unwrap();
        assert_eq!(
            parts,
            vec![
                SubPart::Text("arn:".into()),
                SubPart::Ref("AWS::Partition".into()),
                SubPart::Text(":x:".into()),
                SubPart::GetAtt("Queue".into(), "Arn".into()),
                SubPart::Text("/".into()),
                SubPart::Text("${Literal}".into()),
            ]
        );
    }

    #[test]
    fn cognito_pool_client_and_group_are_parsed() {
        let template = Template::parse(
            r#"
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
    Properties:
      UserPoolName: !Sub "${AWS::StackName}-users"
      UsernameAttributes: [email]
      Schema:
        - Name: tenant_id
          AttributeDataType: String
          Mutable: false
        - Name: role
          AttributeDataType: String
          Mutable: true
  Client:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      ClientName: console
      UserPoolId: !Ref Pool
      GenerateSecret: false
      ExplicitAuthFlows: [ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
      ReadAttributes: [email, "custom:tenant_id"]
      WriteAttributes: [name]
  Admins:
    Type: AWS::Cognito::UserPoolGroup
    Properties:
      GroupName: platform-admin
      UserPoolId: !Ref Pool
"#,
        )
        .unwrap();
        assert_eq!(
            template.user_pools,
            vec![UserPool {
                logical_id: "Pool".into(),
                name: Expr::Sub(vec![SubPart::Ref("AWS::StackName".into()), SubPart::Text("-users".into())]),
                username_attributes: vec!["email".into()],
                custom_attributes: vec![
                    CustomAttribute { name: "tenant_id".into(), data_type: "String".into(), mutable: false },
                    CustomAttribute { name: "role".into(), data_type: "String".into(), mutable: true },
                ],
            }]
        );
        let client = &template.user_pool_clients[0];
        assert_eq!(client.name, Expr::Literal("console".into()));
        assert_eq!(client.user_pool, "Pool");
        assert_eq!(client.explicit_auth_flows, ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]);
        assert_eq!(client.read_attributes, ["email", "custom:tenant_id"]);
        assert_eq!(client.write_attributes, ["name"]);
        assert_eq!(
            template.user_pool_groups,
            vec![UserPoolGroup {
                logical_id: "Admins".into(),
                name: Expr::Literal("platform-admin".into()),
                user_pool: "Pool".into()
            }]
        );
    }

    #[test]
    fn a_client_must_name_its_pool_by_ref() {
        let err = Template::parse(
            "Resources:\n  C:\n    Type: AWS::Cognito::UserPoolClient\n    Properties:\n      ClientName: c\n      UserPoolId: us-east-1_abc\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("Resources.C"), "{err}");
    }

    #[test]
    fn unsupported_intrinsics_are_named() {
        let err = Template::parse(
            "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: !Join [x]\n      Value: v\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("Resources.P"), "{err}");
    }

    #[test]
    fn if_follows_the_named_condition() {
        let t = Template::parse(
            "Parameters:\n  Mode:\n    Type: String\n    Default: s3\nConditions:\n  On: !Equals [!Ref Mode, agentcore]\n  Off: !Not [!Equals [!Ref Mode, agentcore]]\n  Odd: !Or [a, b]\nResources:\n  R:\n    Type: AWS::BedrockAgentCore::Runtime\n    Properties:\n      EnvironmentVariables:\n        ID: !If [On, !GetAtt M.MemoryId, \"\"]\n        NOT: !If [Off, yes, no]\n        ODD: !If [Odd, a, b]\n",
        )
        .unwrap();
        let env = &t.agent_runtimes[0].environment;
        let mut r = crate::resources::Resolver::new("s", "us-east-1", t.parameter_defaults.clone());
        r.conditions = t.conditions.clone();
        r.attributes.insert(("M".into(), "MemoryId".into()), "mem-1".into());
        assert_eq!(r.resolve(&env["ID"]).unwrap(), "");
        assert_eq!(r.resolve(&env["NOT"]).unwrap(), "yes");
        r.parameters.insert("Mode".into(), "agentcore".into());
        assert_eq!(r.resolve(&env["ID"]).unwrap(), "mem-1");
        assert_eq!(r.resolve(&env["NOT"]).unwrap(), "no");
        // A condition the local run cannot evaluate fails where it is used, with its name.
        assert!(r.resolve(&env["ODD"]).unwrap_err().to_string().contains("Conditions.Odd"));
    }
}
