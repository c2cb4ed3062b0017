//! With the `http` feature: the answers a web application gives for the store's, the bus's
//! and the sagas' errors, so a handler returning `Result<_, Problem>` can use `?` on them.
//! An aggregate's own refusals map through the application's `impl From<MyError> for
//! Problem`.

use allframe_core::Problem;
use allframe_core::http::StatusCode;

use crate::aggregate::ExecuteError;
use crate::backend::StoreError;
use crate::command::ValidationError;
use crate::saga::SagaError;
use crate::unique::UniqueError;

/// `422` naming the field (`body` when the command as a whole is wrong).
impl From<ValidationError> for Problem {
    fn from(err: ValidationError) -> Self {
        Problem::invalid_field(err.field.unwrap_or("body"), err.message)
    }
}

/// A lost race is `409` (the client may try again), a store busy past its timeout `503`
/// (later); anything else is `500`.
impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        let status = match err {
            StoreError::Conflict { .. } => StatusCode::CONFLICT,
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::new(status).with_detail(err.to_string())
    }
}

/// The aggregate's refusal as the application maps it; the store's errors as above.
impl<E: Into<Problem>> From<ExecuteError<E>> for Problem {
    fn from(err: ExecuteError<E>) -> Self {
        match err {
            ExecuteError::Rejected(refusal) => refusal.into(),
            ExecuteError::Store(err) => err.into(),
            ExecuteError::Snapshot(why) => {
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(why)
            }
        }
    }
}

/// A saga that could not run or whose compensation failed: `500`; one another caller is
/// running: `409`.
impl From<SagaError> for Problem {
    fn from(err: SagaError) -> Self {
        match err {
            SagaError::Store(err) => err.into(),
            claimed @ SagaError::Claimed { .. } => {
                Problem::new(StatusCode::CONFLICT).with_detail(claimed.to_string())
            }
            other => Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(other.to_string()),
        }
    }
}

/// A value someone else holds: `409` naming its kind, `{"errors": {"email": ["has already
/// been taken"]}}`; the store's errors as above.
impl From<UniqueError> for Problem {
    fn from(err: UniqueError) -> Self {
        match err {
            UniqueError::Taken { kind } => Problem::new(StatusCode::CONFLICT)
                .with_detail(format!("the {kind} has already been taken"))
                .with_field_error(kind, "has already been taken"),
            UniqueError::Store(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ExpectedVersion;

    #[derive(Debug)]
    struct Refused;

    impl From<Refused> for Problem {
        fn from(_: Refused) -> Self {
            Problem::new(StatusCode::FORBIDDEN)
        }
    }

    #[test]
    fn each_error_gets_the_status_a_client_can_act_on() {
        let invalid: Problem = ValidationError::field("quantity", "must be positive").into();
        assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            invalid.field_errors().collect::<Vec<_>>(),
            [("quantity", "must be positive")]
        );
        let conflict = StoreError::Conflict {
            stream: "a".into(),
            expected: ExpectedVersion::Exactly(1),
            actual: 2,
        };
        assert_eq!(Problem::from(conflict).status(), StatusCode::CONFLICT);
        let refused: Problem = ExecuteError::Rejected(Refused).into();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let broken: Problem =
            ExecuteError::<Refused>::Store(StoreError::Backend("disk".into())).into();
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
