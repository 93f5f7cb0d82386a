//! AWS configuration, loaded once per cold start. `AWS_ENDPOINT_URL` (and the per-service
//! `AWS_ENDPOINT_URL_<SERVICE>`) point the same binaries at a local emulator.

pub use aws_config::SdkConfig;

pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// A short, secret-free description of an SDK error for logs and error messages.
pub fn describe_sdk_error<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!("{}: {}", e.code().unwrap_or("ServiceError"), e.message().unwrap_or(""))
        }
        SdkError::TimeoutError(_) => "request timed out".to_owned(),
        SdkError::DispatchFailure(d) => format!("dispatch failure: {d:?}"),
        other => format!("{other}"),
    }
}
