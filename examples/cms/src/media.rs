//! Media uploads, beyond the RealWorld spec: images and PDFs sent as `multipart/form-data`
//! (field `file`), their type read from their first bytes rather than taken from the
//! client, kept on disk under their SHA-256 (the same file is kept once, and its name is
//! the checksum it is verified against when read), served with that hash as a strong
//! `ETag`, conditional requests and byte ranges.

use std::io::Write;
use std::path::PathBuf;

use allframe::auth::Auth;
use allframe::extract::Multipart;
use allframe::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use allframe::openapi::routing::{get, post};
use allframe::openapi::{JsonSchema, schemars};
use allframe::response::Ranged;
use allframe::{Json, Path, Problem, Router, State};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::api::App;
use crate::domain::Role;

/// The largest upload body: a 5 MiB file and its form around it (the server's limit for
/// every other route is 64 KiB).
pub const MEDIA_LIMIT: usize = 5 * 1024 * 1024 + 16 * 1024;

/// What may be uploaded, as the bytes themselves say.
const ACCEPTED: [&str; 5] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
];

/// Files named by the SHA-256 of their bytes, in one directory.
#[derive(Debug, Clone)]
pub struct MediaStore {
    dir: PathBuf,
}

impl MediaStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Keeps `bytes` under their hash and returns it. Written to a temporary file, synced
    /// and renamed into place, so a crash leaves the whole file or none of it (and a failed
    /// write no temporary file); a damaged copy already there is replaced.
    async fn put(&self, bytes: impl AsRef<[u8]> + Send + 'static) -> std::io::Result<String> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = bytes.as_ref();
            let hash = hex(&Sha256::digest(bytes));
            let path = dir.join(&hash);
            if std::fs::read(&path).is_ok_and(|kept| kept == bytes) {
                return Ok(hash);
            }
            std::fs::create_dir_all(&dir)?;
            let mut file = tempfile::NamedTempFile::new_in(&dir)?;
            file.write_all(bytes)?;
            file.as_file().sync_all()?;
            file.persist(&path).map_err(|err| err.error)?;
            std::fs::File::open(&dir)?.sync_all()?;
            Ok(hash)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Whether a file is kept under `hash` (checked no further).
    async fn has(&self, hash: &str) -> bool {
        tokio::fs::try_exists(self.dir.join(hash))
            .await
            .unwrap_or(false)
    }

    /// The bytes kept under `hash`, `None` if there are none; an error if they no longer
    /// match it (a damaged disk is reported, never served).
    async fn get(&self, hash: String) -> Result<Option<Vec<u8>>, Problem> {
        let path = self.dir.join(&hash);
        let bytes = tokio::task::spawn_blocking(move || match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|read| read)
        .map_err(|err| internal(format!("reading medium {hash}: {err}")))?;
        match bytes {
            Some(bytes) if hex(&Sha256::digest(&bytes)) != hash => Err(internal(format!(
                "the stored medium {hash} no longer matches its checksum"
            ))),
            found => Ok(found),
        }
    }
}

fn internal(detail: String) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(detail)
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The type `bytes` are, by their first bytes, if it is one the CMS accepts.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    infer::get(bytes)
        .map(|kind| kind.mime_type())
        .filter(|mime| ACCEPTED.contains(mime))
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct MediumOut {
    /// The SHA-256 of the bytes, in hex: the file's name and its `ETag`.
    hash: String,
    url: String,
    content_type: &'static str,
    size: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
struct MediumReply {
    media: MediumOut,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Hash {
    hash: String,
}

/// `POST /api/cms/media`: an author uploads field `file`; 413 past the limit, 415 for what
/// is not an image or a PDF, 422 without a `file`.
async fn upload(
    State(app): App,
    Auth(claims): Auth,
    mut form: Multipart,
) -> Result<(StatusCode, Json<MediumReply>), Problem> {
    let role = app.cms.role(&claims.sub).await?;
    role.at_least(Role::Author, "media", "uploading takes the author role")?;
    let mut file = None;
    while let Some(field) = form.next_field().await? {
        if field.name() == Some("file") {
            file = Some(field.bytes().await?);
        }
    }
    let bytes = file.ok_or_else(|| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
            .with_detail("the form has no field `file`")
            .with_field_error("file", "is required")
    })?;
    let content_type = sniff(&bytes).ok_or_else(|| {
        Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .with_detail("only PNG, JPEG, GIF and WebP images and PDF documents are kept")
            .with_field_error("file", "is not an image or a PDF")
    })?;
    let size = bytes.len();
    let hash = app
        .media
        .put(bytes)
        .await
        .map_err(|err| internal(format!("storing a medium: {err}")))?;
    let media = MediumOut {
        url: format!("/api/cms/media/{hash}"),
        hash,
        content_type,
        size,
    };
    Ok((StatusCode::CREATED, Json(MediumReply { media })))
}

/// `GET /api/cms/media/{hash}`: the bytes with their type, `ETag`, ranges; cached for good,
/// since the same address always holds the same bytes. A client's current copy is 304
/// before anything is read; uploads are served as inert files (`nosniff`, a sandbox), never
/// as pages of this origin.
async fn serve(
    State(app): App,
    method: Method,
    headers: HeaderMap,
    Path(Hash { hash }): Path<Hash>,
) -> Result<([(HeaderName, &'static str); 2], Ranged), Problem> {
    let well_formed = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    let not_found = || Problem::new(StatusCode::NOT_FOUND).with_detail("no such medium");
    if !well_formed || hash.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(not_found());
    }
    let inert = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, "sandbox"),
    ];
    let current = Ranged::is_current(&hash, &headers) && app.media.has(&hash).await;
    let (bytes, content_type) = if current {
        (Vec::new(), "application/octet-stream")
    } else {
        let bytes = app.media.get(hash.clone()).await?.ok_or_else(not_found)?;
        let content_type = sniff(&bytes).unwrap_or("application/octet-stream");
        (bytes, content_type)
    };
    let ranged = Ranged::new(bytes, content_type, &hash)
        .expect("a hex tag is header text")
        .cache_control("public, max-age=31536000, immutable");
    Ok((inert, ranged.for_request(&method, &headers)))
}

/// `/api/cms/media`, its body limit raised for uploads alone.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/cms/media", post(upload).body_limit(MEDIA_LIMIT))
        .route("/api/cms/media/{hash}", get(serve))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_is_kept_once_under_its_hash_and_damage_is_reported_not_served() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = MediaStore::new(dir.path().join("media"));
        let hash = store.put(b"%PDF-1.7 one".to_vec()).await.expect("stored");
        assert_eq!(
            store.put(b"%PDF-1.7 one".to_vec()).await.expect("stored"),
            hash
        );
        let kept: Vec<_> = std::fs::read_dir(dir.path().join("media"))
            .expect("the media directory")
            .collect();
        assert_eq!(kept.len(), 1, "one file, no temporary left: {kept:?}");
        let read = store.get(hash.clone()).await.expect("readable");
        assert_eq!(read.as_deref(), Some(&b"%PDF-1.7 one"[..]));

        std::fs::write(dir.path().join("media").join(&hash), b"%PDF-1.7 two").expect("damaged");
        let damaged = store
            .get(hash.clone())
            .await
            .expect_err("a checksum mismatch");
        assert_eq!(damaged.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(damaged.to_string().contains("checksum"), "{damaged}");
        assert_eq!(store.get("0".repeat(64)).await.expect("readable"), None);
    }
}
