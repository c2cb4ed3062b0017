//! Authentication every API needs: signed, expiring tokens read from the `Authorization`
//! header ([`Auth`], [`JwtKeys`]) and password hashes that are slow to crack
//! ([`hash_password`], [`verify_password`]).
//!
//! ```
//! use allframe_core::auth::{Auth, JwtKeys};
//! use allframe_core::{Router, routing::get};
//!
//! async fn me(Auth(claims): Auth) -> String {
//!     format!("you are {}", claims.sub)
//! }
//!
//! let keys = JwtKeys::hs256(b"a secret of at least 32 bytes....")
//!     .unwrap()
//!     .scheme("Token");
//! let token = keys.issue("user-1").unwrap();
//! let app = Router::new().route("/me", get(me)).with_state(keys);
//! # drop((app, token));
//! ```

mod password;
mod token;

pub use self::password::{hash_password, verify_password};
pub use self::token::{Auth, AuthRejection, Claims, InvalidKey, JwtKeys};
