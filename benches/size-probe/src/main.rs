//! The size probe: a JSON server that really uses every enabled feature, so link-time
//! optimisation cannot delete what a feature costs. Listens on `ALLFRAME_ADDR`.

#[cfg(feature = "cqrs")]
mod cqrs;
#[cfg(feature = "router-graphql")]
mod graphql;
#[cfg(feature = "router-grpc")]
mod grpc;

// With `openapi` the routes describe themselves, so the document's schemas are measured.
#[cfg(feature = "openapi")]
use allframe::openapi::routing::{get, post};
#[cfg(not(feature = "openapi"))]
use allframe::routing::{get, post};
use allframe::{Json, Path, Router};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
struct Message {
    message: String,
}

async fn json() -> Json<Message> {
    Json(Message {
        message: "Hello, World!".to_owned(),
    })
}

async fn echo(Json(body): Json<Message>) -> Json<Message> {
    Json(body)
}

/// A sign-up whose fields garde checks (and, with `openapi`, the schema states).
#[cfg(feature = "validate")]
#[derive(Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
struct Signup {
    #[garde(length(chars, min = 1, max = 40))]
    name: String,
    #[garde(range(min = 13))]
    age: u8,
}

#[cfg(feature = "validate")]
async fn signup(
    allframe::validate::Valid(Json(signup)): allframe::validate::Valid<Json<Signup>>,
) -> String {
    format!("{} ({})", signup.name, signup.age)
}

async fn user(Path(id): Path<u64>) -> String {
    format!("user {id}")
}

// Read by the `di` handler and the GraphQL query.
#[derive(Clone)]
#[cfg_attr(not(any(feature = "di", feature = "router-graphql")), allow(dead_code))]
struct AppState {
    greeting: Greeting,
    #[cfg(feature = "auth")]
    keys: allframe::auth::JwtKeys,
}

#[cfg(feature = "auth")]
impl allframe::extract::FromRef<AppState> for allframe::auth::JwtKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// A token for the password in the body, once its argon2id hash checks.
#[cfg(feature = "auth")]
async fn token(
    allframe::State(state): allframe::State<AppState>,
    password: String,
) -> Result<String, allframe::Problem> {
    let hash = allframe::auth::hash_password(&password).await?;
    let subject = if allframe::auth::verify_password(&password, &hash).await {
        "probe"
    } else {
        "nobody"
    };
    state.keys.issue(subject)
}

#[cfg(feature = "auth")]
async fn me(allframe::auth::Auth(claims): allframe::auth::Auth) -> String {
    claims.sub
}

/// Each field's name and length.
#[cfg(feature = "multipart")]
async fn upload(
    mut form: allframe::extract::Multipart,
) -> Result<String, allframe::rejection::MultipartRejection> {
    let mut sizes = String::new();
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        sizes.push_str(&format!("{name}: {}\n", field.bytes().await?.len()));
    }
    Ok(sizes)
}

#[derive(Clone)]
#[cfg_attr(not(any(feature = "di", feature = "router-graphql")), allow(dead_code))]
struct Greeting(&'static str);

#[cfg(feature = "di")]
allframe::provide!(AppState { greeting: Greeting });

#[cfg(feature = "di")]
async fn greet(allframe::di::Inject(greeting): allframe::di::Inject<Greeting>) -> &'static str {
    greeting.0
}

fn app() -> allframe::RouterService<AppState> {
    let router = Router::new()
        .route("/json", get(json))
        .route("/echo", post(echo))
        .route("/users/{id}", get(user));
    #[cfg(feature = "di")]
    let router = router.route("/greet", get(greet));
    #[cfg(feature = "validate")]
    let router = router.route("/signup", post(signup));
    #[cfg(feature = "auth")]
    let router = router.route("/token", post(token)).route("/me", get(me));
    #[cfg(feature = "multipart")]
    let router = router.route("/upload", post(upload).body_limit(1 << 20));
    #[cfg(feature = "cqrs")]
    let router = cqrs::routes(router);
    #[cfg(feature = "router-graphql")]
    let router = graphql::routes(router);
    // Serves /openapi.json and /docs, so the document's generation is linked and measured.
    #[cfg(feature = "openapi")]
    let router = router.with_openapi(allframe::openapi::Info::new(
        "size-probe",
        env!("CARGO_PKG_VERSION"),
    ));
    router.with_state(AppState {
        greeting: Greeting("hello"),
        #[cfg(feature = "auth")]
        keys: allframe::auth::JwtKeys::hs256(b"the size probe's secret, 32 bytes or more")
            .expect("a long enough secret"),
    })
}

/// A table only the `regression-fixture` build links: 40,000 distinct words.
#[cfg(feature = "regression-fixture")]
static REGRESSION_TABLE: [u64; 40_000] = {
    let mut table = [0u64; 40_000];
    let mut i = 0;
    while i < table.len() {
        table[i] = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        i += 1;
    }
    table
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    #[cfg(feature = "regression-fixture")]
    {
        let index = std::env::args().count() % REGRESSION_TABLE.len();
        eprintln!("{}", std::hint::black_box(&REGRESSION_TABLE)[index]);
    }
    let listener = tokio::net::TcpListener::bind(allframe::server::env_addr()).await?;
    let app = app();
    // gRPC calls (h2c) go to tonic, every other request to the router, on one listener.
    #[cfg(feature = "router-grpc")]
    let app = grpc::multiplex(app);
    allframe::serve(listener, app)
        .with_graceful_shutdown(allframe::server::shutdown_signal())
        .await
}
