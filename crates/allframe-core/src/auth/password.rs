//! Password hashes: argon2id with a random salt, in the PHC string format
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so the parameters travel with the hash.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use http::StatusCode;

use crate::response::Problem;

/// Hashes `password` with argon2id (OWASP's parameters: 19 MiB, 2 passes). Hashing takes
/// tens of milliseconds of CPU by design, so it runs on tokio's blocking pool, never on
/// the thread that serves other requests.
pub async fn hash_password(password: &str) -> Result<String, Problem> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| {
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                    .with_detail(format!("could not hash the password: {err}"))
            })
    })
    .await
    .unwrap_or_else(|_| Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR)))
}

/// Whether `password` is the one `hash` (a PHC string from [`hash_password`]) was made
/// from. A hash that does not parse matches nothing.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash).await);
        assert!(!verify_password("correct hors", &hash).await);
        assert!(!verify_password("correct horse", "not a hash").await);
        let again = hash_password("correct horse").await.unwrap();
        assert_ne!(hash, again, "each hash has its own salt");
    }
}
