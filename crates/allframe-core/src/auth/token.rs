//! Signed tokens: [`JwtKeys`] issues and checks HS256 JWTs, [`Auth`] reads one from the
//! `Authorization` header (`Bearer <jwt>`, or the scheme word the keys say).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::extract::{FromRef, FromRequestParts};
use crate::response::{IntoResponse, Problem, Response};

/// What a token says: who it was issued to (`sub`), when, and until when it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: the user the token was issued to.
    pub sub: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: u64,
}

/// The keys that sign and check tokens, the scheme word clients put before them, and how
/// long a token holds. Cheap to clone; put it in the application state (or make it
/// reachable with [`FromRef`]) for [`Auth`] to find.
#[derive(Clone)]
pub struct JwtKeys(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    scheme: &'static str,
    ttl: Duration,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("scheme", &self.0.scheme)
            .field("ttl", &self.0.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// HMAC-SHA256 keys from `secret`, the `Bearer` scheme and tokens that hold for a day.
    /// A secret shorter than 32 bytes is refused: it could be guessed.
    pub fn hs256(secret: &[u8]) -> Result<Self, InvalidKey> {
        if secret.len() < 32 {
            return Err(InvalidKey(format!(
                "an HS256 secret needs at least 32 bytes, this one has {}",
                secret.len()
            )));
        }
        let invalid = |err: jsonwebtoken::errors::Error| InvalidKey(err.to_string());
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        Ok(Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(secret).map_err(invalid)?,
            decoding: DecodingKey::from_secret(secret).map_err(invalid)?,
            validation,
            scheme: "Bearer",
            ttl: Duration::from_secs(24 * 60 * 60),
        })))
    }

    /// The word before the token in `Authorization` (RealWorld's API says `Token`).
    pub fn scheme(self, scheme: &'static str) -> Self {
        self.with(|keys| keys.scheme = scheme)
    }

    /// How long an issued token holds.
    pub fn ttl(self, ttl: Duration) -> Self {
        self.with(|keys| keys.ttl = ttl)
    }

    fn with(self, change: impl FnOnce(&mut Keys)) -> Self {
        let mut keys = Arc::try_unwrap(self.0).unwrap_or_else(|shared| Keys {
            encoding: shared.encoding.clone(),
            decoding: shared.decoding.clone(),
            validation: shared.validation.clone(),
            scheme: shared.scheme,
            ttl: shared.ttl,
        });
        change(&mut keys);
        Self(Arc::new(keys))
    }

    /// A token for `subject`, valid from now for the keys' time to live.
    pub fn issue(&self, subject: &str) -> Result<String, Problem> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: subject.to_owned(),
            iat: now,
            exp: now + self.0.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding).map_err(
            |err| {
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                    .with_detail(format!("could not sign a token: {err}"))
            },
        )
    }

    /// The claims of `token` if these keys signed it and it has not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthRejection> {
        jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthRejection::Expired {
                    expected: self.0.scheme,
                },
                _ => AuthRejection::Invalid {
                    expected: self.0.scheme,
                    why: err.to_string(),
                },
            })
    }

    /// The claims of an `Authorization` value (`<scheme> <token>`): what [`Auth`] checks,
    /// for a credential that arrives another way, such as a WebSocket's `connection_init`.
    pub fn verify_authorization(&self, value: &str) -> Result<Claims, AuthRejection> {
        self.verify(self.token(value)?)
    }

    /// The token in an `Authorization` value, if it starts with the scheme word.
    fn token<'a>(&self, value: &'a str) -> Result<&'a str, AuthRejection> {
        let wrong = || AuthRejection::WrongScheme {
            expected: self.0.scheme,
        };
        let (scheme, token) = value.split_once(' ').ok_or_else(wrong)?;
        if !scheme.eq_ignore_ascii_case(self.0.scheme) {
            return Err(wrong());
        }
        Ok(token.trim())
    }

    /// The claims of the request's token: `None` when it sends none.
    fn claims(&self, parts: &Parts) -> Result<Option<Claims>, AuthRejection> {
        match parts.headers.get(header::AUTHORIZATION) {
            None => Ok(None),
            Some(value) => {
                let value = value.to_str().map_err(|_| AuthRejection::WrongScheme {
                    expected: self.0.scheme,
                })?;
                self.verify_authorization(value).map(Some)
            }
        }
    }
}

/// Why [`JwtKeys`] could not be made from a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidKey(String);

impl fmt::Display for InvalidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidKey {}

/// The claims of a request's valid token; a request without one is answered `401` with a
/// `WWW-Authenticate` challenge. Take `Option<Auth>` where a token is optional: no header
/// gives `None`, a bad token is still `401`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth(pub Claims);

/// Why [`Auth`] refused a request: `401` with a `WWW-Authenticate` challenge naming the
/// scheme, the reason in `detail`, and a short one under `errors.token` (`is missing`, `is
/// malformed`, `is invalid`, `has expired`: RealWorld's shape, which its clients read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRejection {
    /// No `Authorization` header.
    Missing {
        /// The scheme word the server expects.
        expected: &'static str,
    },
    /// A header that is not `<scheme> <token>`.
    WrongScheme {
        /// The scheme word the server expects.
        expected: &'static str,
    },
    /// A token these keys did not sign, or that does not parse.
    Invalid {
        /// The scheme word the server expects.
        expected: &'static str,
        /// What was wrong with it.
        why: String,
    },
    /// A token past its `exp`.
    Expired {
        /// The scheme word the server expects.
        expected: &'static str,
    },
}

impl AuthRejection {
    /// The short reason under `errors.token`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "is missing",
            Self::WrongScheme { .. } => "is malformed",
            Self::Invalid { .. } => "is invalid",
            Self::Expired { .. } => "has expired",
        }
    }

    fn expected(&self) -> &'static str {
        match self {
            Self::Missing { expected }
            | Self::WrongScheme { expected }
            | Self::Invalid { expected, .. }
            | Self::Expired { expected } => expected,
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { expected } => {
                write!(
                    f,
                    "this needs an `Authorization: {expected} <token>` header"
                )
            }
            Self::WrongScheme { expected } => {
                write!(f, "the `Authorization` header must be `{expected} <token>`")
            }
            Self::Invalid { why, .. } => write!(f, "the token is not valid: {why}"),
            Self::Expired { .. } => f.write_str("the token has expired: log in again"),
        }
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut res = Problem::new(StatusCode::UNAUTHORIZED)
            .with_detail(self.to_string())
            .with_field_error("token", self.reason())
            .into_response();
        if let Ok(challenge) = HeaderValue::from_str(self.expected()) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        res
    }
}

impl<S> FromRequestParts<S> for Auth
where
    S: Send + Sync,
    JwtKeys: FromRef<S>,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AuthRejection> {
        let keys = JwtKeys::from_ref(state);
        match keys.claims(parts)? {
            Some(claims) => Ok(Self(claims)),
            None => Err(AuthRejection::Missing {
                expected: keys.0.scheme,
            }),
        }
    }
}

impl<S> FromRequestParts<S> for Option<Auth>
where
    S: Send + Sync,
    JwtKeys: FromRef<S>,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AuthRejection> {
        Ok(JwtKeys::from_ref(state).claims(parts)?.map(Auth))
    }
}

#[cfg(feature = "openapi")]
mod describe {
    use super::{Auth, AuthRejection};
    use crate::openapi::{Operation, OperationInput, OperationOutput, SchemaGenerator};

    impl OperationOutput for AuthRejection {
        fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
            crate::openapi::problem(op, schemas, "401", "no valid token");
        }
    }

    impl OperationInput for Auth {
        fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
            AuthRejection::describe(op, schemas);
        }
    }

    impl OperationInput for Option<Auth> {
        fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
            AuthRejection::describe(op, schemas);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: Option<&str>) -> Parts {
        let mut req = http::Request::builder();
        if let Some(value) = authorization {
            req = req.header(header::AUTHORIZATION, value);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_token_round_trips_and_others_are_refused() {
        let keys = JwtKeys::hs256(b"0123456789abcdef0123456789abcdef")
            .unwrap()
            .scheme("Token");
        let token = keys.issue("user-7").unwrap();
        let claims = keys
            .claims(&parts(Some(&format!("Token {token}"))))
            .unwrap();
        assert_eq!(claims.unwrap().sub, "user-7");
        assert_eq!(keys.claims(&parts(None)), Ok(None));
        assert!(matches!(
            keys.claims(&parts(Some(&format!("Bearer {token}")))),
            Err(AuthRejection::WrongScheme { expected: "Token" })
        ));
        let other = JwtKeys::hs256(b"another secret of thirty-two bytes").unwrap();
        assert!(JwtKeys::hs256(b"short").is_err());
        assert!(matches!(
            other.verify(&token),
            Err(AuthRejection::Invalid { .. })
        ));
        let expired = keys.clone().ttl(Duration::ZERO).issue("user-7").unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(
            keys.verify(&expired),
            Err(AuthRejection::Expired { expected: "Token" })
        );
    }

    /// RealWorld's 401: `errors.token` says why in a word, and the challenge names the
    /// scheme the keys take for every reason (an expired token was challenged `Bearer`).
    #[test]
    fn a_refusal_names_the_token_and_challenges_with_the_keys_scheme() {
        let keys = JwtKeys::hs256(b"0123456789abcdef0123456789abcdef")
            .unwrap()
            .scheme("Token");
        let expired = keys.clone().ttl(Duration::ZERO).issue("user-7").unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        let refusals = [
            (
                keys.claims(&parts(Some("Token"))).unwrap_err(),
                "is malformed",
            ),
            (keys.verify("not.a.token").unwrap_err(), "is invalid"),
            (keys.verify(&expired).unwrap_err(), "has expired"),
            (AuthRejection::Missing { expected: "Token" }, "is missing"),
        ];
        for (refusal, reason) in refusals {
            let res = refusal.clone().into_response();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{refusal:?}");
            assert_eq!(
                res.headers()[header::WWW_AUTHENTICATE],
                "Token",
                "{refusal:?}"
            );
            assert_eq!(refusal.reason(), reason);
        }
    }
}
