//! Creates the template's tables, queues, parameters and schedule groups in the local AWS
//! emulator, and resolves `!Ref` / `!GetAtt` / `!Sub` against what it created.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::template::{Condition, Expr, SubPart, Template};

/// The account id moto uses.
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error("creating {what} failed: {detail}")]
    Create { what: String, detail: String },
    #[error("template.yaml refers to {0}, which the local run does not know")]
    Unresolved(String),
}

fn create_err(what: impl Into<String>, e: impl std::fmt::Display) -> ResourceError {
    ResourceError::Create { what: what.into(), detail: e.to_string() }
}

/// What `!Ref` and `!GetAtt` mean for every resource, once created.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    pub pseudo: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    pub refs: HashMap<String, String>,
    pub attributes: HashMap<(String, String), String>,
    /// The template's conditions (for `!If`).
    pub conditions: BTreeMap<String, Condition>,
}

impl Resolver {
    pub fn new(stack: &str, region: &str, parameters: BTreeMap<String, String>) -> Self {
        let mut pseudo = BTreeMap::new();
        pseudo.insert("AWS::StackName".into(), stack.to_owned());
        pseudo.insert("AWS::Region".into(), region.to_owned());
        pseudo.insert("AWS::AccountId".into(), LOCAL_ACCOUNT_ID.into());
        pseudo.insert("AWS::Partition".into(), "aws".into());
        pseudo.insert("AWS::URLSuffix".into(), "amazonaws.com".into());
        Self { pseudo, parameters, ..Default::default() }
    }

    fn reference(&self, name: &str) -> Result<String, ResourceError> {
        self.pseudo
            .get(name)
            .or_else(|| self.parameters.get(name))
            .or_else(|| self.refs.get(name))
            .cloned()
            .ok_or_else(|| ResourceError::Unresolved(format!("!Ref {name}")))
    }

    fn attribute(&self, name: &str, attr: &str) -> Result<String, ResourceError> {
        self.attributes
            .get(&(name.to_owned(), attr.to_owned()))
            .cloned()
            .ok_or_else(|| ResourceError::Unresolved(format!("!GetAtt {name}.{attr}")))
    }

    fn condition(&self, condition: &Condition) -> Result<bool, ResourceError> {
        match condition {
            Condition::Equals(a, b) => Ok(self.resolve(a)? == self.resolve(b)?),
            Condition::Not(inner) => Ok(!self.condition(inner)?),
            Condition::Unsupported(problem) => Err(ResourceError::Unresolved(problem.clone())),
        }
    }

    pub fn resolve(&self, expr: &Expr) -> Result<String, ResourceError> {
        match expr {
            Expr::If(name, then, otherwise) => {
                let condition =
                    self.conditions.get(name).ok_or_else(|| ResourceError::Unresolved(format!("condition {name}")))?;
                if self.condition(condition)? { self.resolve(then) } else { self.resolve(otherwise) }
            }
            Expr::Literal(s) => Ok(s.clone()),
            Expr::Ref(name) => self.reference(name),
            Expr::GetAtt(name, attr) => self.attribute(name, attr),
            Expr::Sub(parts) => parts
                .iter()
                .map(|part| match part {
                    SubPart::Text(t) => Ok(t.clone()),
                    SubPart::Ref(name) => self.reference(name),
                    SubPart::GetAtt(name, attr) => self.attribute(name, attr),
                })
                .collect(),
        }
    }
}

/// Names and URLs of what was created, for the event-source mappings and the CLI.
#[derive(Debug, Clone, Default)]
pub struct CreatedResources {
    pub queue_urls: HashMap<String, String>,
    pub queue_arns: HashMap<String, String>,
    pub tables: HashMap<String, String>,
    pub buckets: HashMap<String, String>,
    /// Secrets by logical id: their ARNs.
    pub secrets: HashMap<String, String>,
    /// Cognito user pools by logical id: their pool ids.
    pub user_pools: HashMap<String, String>,
    /// Cognito app clients by logical id: their client ids.
    pub user_pool_clients: HashMap<String, String>,
}

pub struct LocalAws<'a> {
    pub dynamodb: &'a aws_sdk_dynamodb::Client,
    pub sqs: &'a aws_sdk_sqs::Client,
    pub ssm: &'a aws_sdk_ssm::Client,
    pub scheduler: &'a aws_sdk_scheduler::Client,
    pub s3: &'a aws_sdk_s3::Client,
    pub secrets: &'a aws_sdk_secretsmanager::Client,
    pub cognito: &'a aws_sdk_cognitoidentityprovider::Client,
}

/// Creates everything the template defines, in dependency order. `parameter_overrides` replaces
/// the value of SSM parameters by name (the API URL is the local one, not API Gateway's).
pub async fn create_all(
    template: &Template,
    aws: &LocalAws<'_>,
    resolver: &mut Resolver,
    parameter_overrides: &HashMap<String, String>,
    extra_refs: &HashMap<String, String>,
    extra_attributes: &HashMap<(String, String), String>,
) -> Result<CreatedResources, ResourceError> {
    let mut created = CreatedResources::default();
    resolver.refs.extend(extra_refs.clone());
    resolver.attributes.extend(extra_attributes.clone());

    for table in &template.tables {
        let name = resolver.resolve(&table.name)?;
        let mut request = aws.dynamodb.create_table().table_name(&name).billing_mode(BillingMode::PayPerRequest);
        for (attr, kind) in &table.attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .map_err(|e| create_err(&name, e))?,
            );
        }
        let mut keys = vec![(table.hash_key.clone(), KeyType::Hash)];
        if let Some(range) = &table.range_key {
            keys.push((range.clone(), KeyType::Range));
        }
        for (attr, kind) in keys {
            request = request.key_schema(
                KeySchemaElement::builder()
                    .attribute_name(attr)
                    .key_type(kind)
                    .build()
                    .map_err(|e| create_err(&name, e))?,
            );
        }
        request
            .send()
            .await
            .map_err(|e| create_err(format!("table {name}"), aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        if let Some(ttl) = &table.ttl_attribute {
            aws.dynamodb
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(ttl)
                        .enabled(true)
                        .build()
                        .map_err(|e| create_err(&name, e))?,
                )
                .send()
                .await
                .map_err(|e| create_err(format!("TTL of {name}"), aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        resolver.refs.insert(table.logical_id.clone(), name.clone());
        resolver.attributes.insert(
            (table.logical_id.clone(), "Arn".into()),
            format!("arn:aws:dynamodb:{}:{LOCAL_ACCOUNT_ID}:table/{name}", resolver.pseudo["AWS::Region"]),
        );
        created.tables.insert(table.logical_id.clone(), name);
    }

    // Queues first without redrive, so every dead-letter queue has an ARN to point at.
    for queue in &template.queues {
        let name = resolver.resolve(&queue.name)?;
        let mut request = aws.sqs.create_queue().queue_name(&name);
        for (key, value) in &queue.attributes {
            request = request.attributes(QueueAttributeName::from(key.as_str()), value);
        }
        let out = request
            .send()
            .await
            .map_err(|e| create_err(format!("queue {name}"), aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let url = out.queue_url.unwrap_or_default();
        let arn = format!("arn:aws:sqs:{}:{LOCAL_ACCOUNT_ID}:{name}", resolver.pseudo["AWS::Region"]);
        resolver.refs.insert(queue.logical_id.clone(), url.clone());
        resolver.attributes.insert((queue.logical_id.clone(), "Arn".into()), arn.clone());
        resolver.attributes.insert((queue.logical_id.clone(), "QueueUrl".into()), url.clone());
        resolver.attributes.insert((queue.logical_id.clone(), "QueueName".into()), name.clone());
        created.queue_urls.insert(queue.logical_id.clone(), url);
        created.queue_arns.insert(queue.logical_id.clone(), arn);
    }
    for queue in &template.queues {
        let Some((dlq, max_receive)) = &queue.dead_letter_queue else { continue };
        let dlq_arn = created.queue_arns.get(dlq).ok_or_else(|| ResourceError::Unresolved(format!("queue {dlq}")))?;
        let policy = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive }).to_string();
        aws.sqs
            .set_queue_attributes()
            .queue_url(&created.queue_urls[&queue.logical_id])
            .attributes(QueueAttributeName::RedrivePolicy, policy)
            .send()
            .await
            .map_err(|e| {
                create_err(format!("redrive of {}", queue.logical_id), aws_sdk_sqs::error::DisplayErrorContext(e))
            })?;
    }

    for (logical_id, name) in &template.schedule_groups {
        let name = resolver.resolve(name)?;
        aws.scheduler.create_schedule_group().name(&name).send().await.map_err(|e| {
            create_err(format!("schedule group {name}"), aws_sdk_scheduler::error::DisplayErrorContext(e))
        })?;
        resolver.refs.insert(logical_id.clone(), name);
    }

    for (logical_id, name) in &template.buckets {
        let name = resolver.resolve(name)?;
        aws.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| create_err(format!("bucket {name}"), aws_sdk_s3::error::DisplayErrorContext(e)))?;
        resolver.refs.insert(logical_id.clone(), name.clone());
        resolver.attributes.insert((logical_id.clone(), "Arn".into()), format!("arn:aws:s3:::{name}"));
        created.buckets.insert(logical_id.clone(), name);
    }

    // A generated secret gets 64 random alphanumerics, as CloudFormation's GenerateSecretString
    // would; `!Ref` is its ARN.
    for (logical_id, name) in &template.secrets {
        use rand::distr::{Alphanumeric, SampleString};
        let name = resolver.resolve(name)?;
        let value = Alphanumeric.sample_string(&mut rand::rng(), 64);
        let out =
            aws.secrets.create_secret().name(&name).secret_string(value).send().await.map_err(|e| {
                create_err(format!("secret {name}"), aws_sdk_secretsmanager::error::DisplayErrorContext(e))
            })?;
        let arn = out.arn.ok_or_else(|| create_err(format!("secret {name}"), "no ARN in the answer"))?;
        resolver.refs.insert(logical_id.clone(), arn.clone());
        created.secrets.insert(logical_id.clone(), arn);
    }

    create_cognito(template, aws.cognito, resolver, &mut created).await?;

    for parameter in &template.parameters {
        let name = resolver.resolve(&parameter.name)?;
        let value = match parameter_overrides.get(&name) {
            Some(value) => value.clone(),
            None => resolver.resolve(&parameter.value)?,
        };
        aws.ssm
            .put_parameter()
            .name(&name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| create_err(format!("parameter {name}"), aws_sdk_ssm::error::DisplayErrorContext(e)))?;
        resolver.refs.insert(parameter.logical_id.clone(), name);
    }
    Ok(created)
}

/// User pools (with their custom attributes and sign-in attributes), their app clients and
/// groups. `!Ref` of a pool is its id, of a client its client id; a pool's `Arn` and
/// `ProviderURL` are those of AWS (moto's tokens name the same issuer).
async fn create_cognito(
    template: &Template,
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    resolver: &mut Resolver,
    created: &mut CreatedResources,
) -> Result<(), ResourceError> {
    use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
    use aws_sdk_cognitoidentityprovider::types::{
        AttributeDataType, ExplicitAuthFlowsType, SchemaAttributeType, UsernameAttributeType,
    };
    let region = resolver.pseudo["AWS::Region"].clone();
    for pool in &template.user_pools {
        let name = resolver.resolve(&pool.name)?;
        let schema = pool
            .custom_attributes
            .iter()
            .map(|a| {
                SchemaAttributeType::builder()
                    .name(&a.name)
                    .attribute_data_type(AttributeDataType::from(a.data_type.as_str()))
                    .mutable(a.mutable)
                    .build()
            })
            .collect();
        let out = cognito
            .create_user_pool()
            .pool_name(&name)
            .set_username_attributes(Some(
                pool.username_attributes.iter().map(|a| UsernameAttributeType::from(a.as_str())).collect(),
            ))
            .set_schema(Some(schema))
            .send()
            .await
            .map_err(|e| create_err(format!("user pool {name}"), DisplayErrorContext(e)))?;
        let created_pool =
            out.user_pool.ok_or_else(|| create_err(format!("user pool {name}"), "no pool in the answer"))?;
        let id = created_pool.id.ok_or_else(|| create_err(format!("user pool {name}"), "no pool id in the answer"))?;
        let arn = created_pool
            .arn
            .unwrap_or_else(|| format!("arn:aws:cognito-idp:{region}:{LOCAL_ACCOUNT_ID}:userpool/{id}"));
        let provider = format!("cognito-idp.{region}.amazonaws.com/{id}");
        resolver.refs.insert(pool.logical_id.clone(), id.clone());
        resolver.attributes.insert((pool.logical_id.clone(), "Arn".into()), arn);
        resolver.attributes.insert((pool.logical_id.clone(), "ProviderName".into()), provider.clone());
        resolver.attributes.insert((pool.logical_id.clone(), "ProviderURL".into()), format!("https://{provider}"));
        resolver.attributes.insert((pool.logical_id.clone(), "UserPoolId".into()), id.clone());
        created.user_pools.insert(pool.logical_id.clone(), id);
    }
    let pool_id = |logical_id: &str| {
        created
            .user_pools
            .get(logical_id)
            .cloned()
            .ok_or_else(|| ResourceError::Unresolved(format!("user pool {logical_id}")))
    };
    for client in &template.user_pool_clients {
        let name = resolver.resolve(&client.name)?;
        let out = cognito
            .create_user_pool_client()
            .user_pool_id(pool_id(&client.user_pool)?)
            .client_name(&name)
            .generate_secret(false)
            .set_explicit_auth_flows(Some(
                client.explicit_auth_flows.iter().map(|f| ExplicitAuthFlowsType::from(f.as_str())).collect(),
            ))
            .set_read_attributes(Some(client.read_attributes.clone()))
            .set_write_attributes(Some(client.write_attributes.clone()))
            .send()
            .await
            .map_err(|e| create_err(format!("user pool client {name}"), DisplayErrorContext(e)))?;
        let id = out
            .user_pool_client
            .and_then(|c| c.client_id)
            .ok_or_else(|| create_err(format!("user pool client {name}"), "no client id in the answer"))?;
        resolver.refs.insert(client.logical_id.clone(), id.clone());
        resolver.attributes.insert((client.logical_id.clone(), "ClientId".into()), id.clone());
        created.user_pool_clients.insert(client.logical_id.clone(), id);
    }
    for group in &template.user_pool_groups {
        let name = resolver.resolve(&group.name)?;
        cognito
            .create_group()
            .user_pool_id(pool_id(&group.user_pool)?)
            .group_name(&name)
            .send()
            .await
            .map_err(|e| create_err(format!("user pool group {name}"), DisplayErrorContext(e)))?;
        resolver.refs.insert(group.logical_id.clone(), name);
    }
    Ok(())
}
