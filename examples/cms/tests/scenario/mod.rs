//! The contract scenario: two writers through the RealWorld API, every error answer the
//! specification names included (401, 403, 404, 409, 422 with `errors` per field).
//! `cargo xtask demos` runs it against the binary; the tests run it in their process, on
//! the data directory backend and on PostgreSQL.

use allframe_test::Contract;
use http::Method;
use serde_json::{Value, json};
use sha2::Digest;

async fn register(c: &mut Contract, name: &str) -> String {
    let user = json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": "password1"}});
    let reply = c
        .send(Method::POST, "/api/users", Some(&user), 201)
        .await
        .json();
    assert_eq!(reply["user"]["username"], name);
    assert!(reply["user"]["bio"].is_null(), "{reply}");
    reply["user"]["token"].as_str().expect("a token").to_owned()
}

fn sign_in(c: &mut Contract, token: &str) {
    c.set_header("authorization", Some(&format!("Token {token}")));
}

pub(crate) async fn run(c: &mut Contract) {
    let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);
    c.send(get.clone(), "/health", None, 200).await;
    document(c).await;

    // The first user to register is the admin; everyone after is an author.
    let admin = register(c, "admin").await;
    sign_in(c, &admin);
    let role = c
        .send(get.clone(), "/api/cms/users/admin/role", None, 200)
        .await
        .json();
    assert_eq!(role["user"]["role"], "admin", "{role}");
    c.set_header("authorization", None);

    // Users: a taken username or email is 409 naming it; a short password 422 naming it.
    let ann = register(c, "ann").await;
    let again =
        json!({"user": {"username": "ann", "email": "other@example.com", "password": "password1"}});
    let taken = c
        .send(post.clone(), "/api/users", Some(&again), 409)
        .await
        .json();
    assert!(taken["errors"]["username"][0].is_string(), "{taken}");
    let same_email =
        json!({"user": {"username": "other", "email": "ANN@example.com", "password": "password1"}});
    let taken = c
        .send(post.clone(), "/api/users", Some(&same_email), 409)
        .await
        .json();
    assert!(taken["errors"]["email"][0].is_string(), "{taken}");
    let short = json!({"user": {"username": "cy", "email": "cy@example.com", "password": "short"}});
    let invalid = c
        .send(post.clone(), "/api/users", Some(&short), 422)
        .await
        .json();
    // Keyed by the field, not `user.password`; a blank field says so first, as the spec's suite checks.
    assert!(invalid["errors"]["password"][0].is_string(), "{invalid}");
    let blank =
        json!({"user": {"username": "", "email": "cy@example.com", "password": "password1"}});
    let invalid = c
        .send(post.clone(), "/api/users", Some(&blank), 422)
        .await
        .json();
    assert_eq!(
        invalid["errors"]["username"][0], "can't be blank",
        "{invalid}"
    );
    // The refused registrations kept nothing: `other` is still free.
    let other = json!({"user": {"username": "other", "email": "other@example.com", "password": "password1"}});
    c.send(post.clone(), "/api/users", Some(&other), 201).await;

    let wrong = json!({"user": {"email": "ann@example.com", "password": "password2"}});
    let refused = c
        .send(post.clone(), "/api/users/login", Some(&wrong), 401)
        .await
        .json();
    assert_eq!(refused["errors"]["credentials"][0], "invalid", "{refused}");
    let right = json!({"user": {"email": "ann@example.com", "password": "password1"}});
    c.send(post.clone(), "/api/users/login", Some(&right), 200)
        .await;
    // An email is one whatever its case, as its claim is.
    let shouted = json!({"user": {"email": "ANN@Example.com", "password": "password1"}});
    c.send(post.clone(), "/api/users/login", Some(&shouted), 200)
        .await;

    // The current user needs a valid token; the 401 says so as the spec's example does.
    let missing = c.send(get.clone(), "/api/user", None, 401).await;
    assert_eq!(missing.header("www-authenticate"), Some("Token"));
    assert_eq!(missing.json()["errors"]["token"][0], "is missing");
    c.set_header("authorization", Some("Token not.a.jwt"));
    let invalid = c.send(get.clone(), "/api/user", None, 401).await;
    assert_eq!(invalid.header("www-authenticate"), Some("Token"));
    assert_eq!(invalid.json()["errors"]["token"][0], "is invalid");
    sign_in(c, &ann);
    let bio = json!({"user": {"bio": "I write."}});
    let me = c
        .send(put.clone(), "/api/user", Some(&bio), 200)
        .await
        .json();
    assert_eq!(me["user"]["bio"], "I write.");
    // Bio and image are nullable: `null` and `""` clear them, leaving one out keeps it.
    for clear in [json!(null), json!("")] {
        let cleared = json!({"user": {"bio": clear, "image": clear}});
        let me = c
            .send(put.clone(), "/api/user", Some(&cleared), 200)
            .await
            .json();
        assert!(
            me["user"]["bio"].is_null() && me["user"]["image"].is_null(),
            "{me}"
        );
        c.send(put.clone(), "/api/user", Some(&bio), 200).await;
    }
    let untouched = c
        .send(put.clone(), "/api/user", Some(&json!({"user": {}})), 200)
        .await
        .json();
    assert_eq!(untouched["user"]["bio"], "I write.");
    // Username, email and password are strings: `null` for one is refused, not ignored.
    for field in ["username", "email", "password"] {
        let null = json!({"user": {field: null}});
        c.send(put.clone(), "/api/user", Some(&null), 422).await;
    }

    // An article: tags kept sorted and once; a missing title is 422.
    let draft = json!({"article": {"title": "How to train your dragon", "description": "Ever wonder how?",
        "body": "Very carefully.", "tagList": ["training", "dragons", "training"]}});
    let article = c
        .send(post.clone(), "/api/articles", Some(&draft), 201)
        .await
        .json();
    assert_eq!(
        article["article"]["tagList"],
        json!(["dragons", "training"])
    );
    let slug = article["article"]["slug"]
        .as_str()
        .expect("a slug")
        .to_owned();
    assert!(slug.starts_with("how-to-train-your-dragon-"), "{slug}");
    let untitled = json!({"article": {"description": "d", "body": "b"}});
    c.send(post.clone(), "/api/articles", Some(&untitled), 422)
        .await;
    // Errors name fields as the client wrote them.
    let blank_tag =
        json!({"article": {"title": "t", "description": "d", "body": "b", "tagList": [""]}});
    let invalid = c
        .send(post.clone(), "/api/articles", Some(&blank_tag), 422)
        .await
        .json();
    let named = invalid["errors"].as_object().expect("errors");
    assert!(named.keys().any(|k| k.starts_with("tagList")), "{invalid}");

    // Another user may read, favorite, follow and comment, but not edit or delete.
    let bob = register(c, "bob").await;
    sign_in(c, &bob);
    let path = format!("/api/articles/{slug}");
    let retitle = json!({"article": {"title": "Mine now"}});
    let forbidden = c.send(put.clone(), &path, Some(&retitle), 403).await.json();
    // The key names the resource, as the spec says.
    assert_eq!(
        forbidden["errors"]["article"][0], "forbidden",
        "{forbidden}"
    );
    c.send(delete.clone(), &path, None, 403).await;
    let favorited = c
        .send(post.clone(), &format!("{path}/favorite"), None, 200)
        .await
        .json();
    assert_eq!(
        (
            favorited["article"]["favorited"].clone(),
            favorited["article"]["favoritesCount"].clone()
        ),
        (json!(true), json!(1))
    );
    c.send(post.clone(), &format!("{path}/favorite"), None, 200)
        .await;

    // Lists: filters, pagination, no bodies.
    let by_ann = c
        .send(get.clone(), "/api/articles?author=ann", None, 200)
        .await
        .json();
    assert_eq!(by_ann["articlesCount"], 1);
    assert!(by_ann["articles"][0].get("body").is_none(), "{by_ann}");
    let liked: Value = c
        .send(get.clone(), "/api/articles?favorited=bob", None, 200)
        .await
        .json();
    assert_eq!(liked["articles"][0]["favoritesCount"], 1);
    let none = c
        .send(get.clone(), "/api/articles?tag=cooking", None, 200)
        .await
        .json();
    assert_eq!(none["articlesCount"], 0);
    c.send(get.clone(), "/api/articles?limit=0", None, 422)
        .await;
    let tags = c.send(get.clone(), "/api/tags", None, 200).await.json();
    assert_eq!(tags["tags"], json!(["dragons", "training"]));

    // The feed shows the authors one follows.
    let feed = c
        .send(get.clone(), "/api/articles/feed", None, 200)
        .await
        .json();
    assert_eq!(feed["articlesCount"], 0);
    let followed = c
        .send(post.clone(), "/api/profiles/ann/follow", None, 200)
        .await
        .json();
    assert_eq!(followed["profile"]["following"], true);
    let feed = c
        .send(get.clone(), "/api/articles/feed", None, 200)
        .await
        .json();
    assert_eq!(feed["articles"][0]["slug"], slug.as_str());
    assert_eq!(feed["articles"][0]["author"]["following"], true);
    c.send(get.clone(), "/api/profiles/nobody", None, 404).await;

    // Comments: only their author deletes them.
    let thanks = json!({"comment": {"body": "Thank you so much!"}});
    let comment = c
        .send(
            post.clone(),
            &format!("{path}/comments"),
            Some(&thanks),
            201,
        )
        .await
        .json();
    let id = comment["comment"]["id"].as_u64().expect("an integer id");
    sign_in(c, &ann);
    let refused = c
        .send(delete.clone(), &format!("{path}/comments/{id}"), None, 403)
        .await
        .json();
    assert_eq!(refused["errors"]["comment"][0], "forbidden", "{refused}");
    c.send(delete.clone(), &format!("{path}/comments/999"), None, 404)
        .await;
    sign_in(c, &bob);
    c.send(delete.clone(), &format!("{path}/comments/{id}"), None, 204)
        .await;
    let comments = c
        .send(get.clone(), &format!("{path}/comments"), None, 200)
        .await
        .json();
    assert_eq!(comments["comments"], json!([]));

    // The author retitles (a new slug; the old one is gone) and deletes.
    sign_in(c, &ann);
    // `tagList: null` is refused (the spec types it an array; `[]` removes the tags).
    for field in ["tagList", "title", "description", "body"] {
        let null = json!({"article": {field: null}});
        c.send(put.clone(), &path, Some(&null), 422).await;
    }
    let edited = c.send(put.clone(), &path, Some(&retitle), 200).await.json();
    let new_slug = edited["article"]["slug"]
        .as_str()
        .expect("a slug")
        .to_owned();
    assert!(new_slug.starts_with("mine-now-"), "{new_slug}");
    assert_eq!(edited["article"]["body"], "Very carefully.");
    c.send(get.clone(), &path, None, 404).await;
    let new_path = format!("/api/articles/{new_slug}");
    c.send(delete.clone(), &new_path, None, 204).await;
    c.send(get.clone(), &new_path, None, 404).await;

    versions(c, &ann, &bob).await;
    let (rita, eddie) = roles(c, &admin, &ann, &bob).await;
    workflow(c, &admin, &ann, &bob, &rita, &eddie).await;
    media(c, &ann, &rita).await;
    graphql(c, &ann, &eddie).await;
    c.set_header("authorization", None);
}

/// Every edit is a version: listed, read, compared and restored as a new one.
async fn versions(c: &mut Contract, ann: &str, bob: &str) {
    let (get, post, put) = (Method::GET, Method::POST, Method::PUT);
    sign_in(c, ann);
    let draft = json!({"article": {"title": "Versions", "description": "Drafts",
        "body": "First line.\nSecond line.", "tagList": ["history"]}});
    let written = c
        .send(post.clone(), "/api/articles", Some(&draft), 201)
        .await
        .json();
    let path = format!(
        "/api/articles/{}",
        written["article"]["slug"].as_str().expect("a slug")
    );
    for body in ["First line.\nA better second line.", "Rewritten."] {
        let edit = json!({"article": {"body": body}});
        c.send(put.clone(), &path, Some(&edit), 200).await;
    }

    let list = c
        .send(get.clone(), &format!("{path}/versions"), None, 200)
        .await
        .json();
    assert_eq!(list["versionsCount"], 3, "{list}");
    assert_eq!(list["versions"][0]["author"], "ann");
    assert!(list["versions"][0].get("body").is_none(), "{list}");
    let first = c
        .send(get.clone(), &format!("{path}/versions/1"), None, 200)
        .await
        .json();
    assert_eq!(first["version"]["body"], "First line.\nSecond line.");
    assert_eq!(first["version"]["tagList"], json!(["history"]));
    c.send(get.clone(), &format!("{path}/versions/0"), None, 404)
        .await;
    c.send(get.clone(), &format!("{path}/versions/4"), None, 404)
        .await;
    c.send(get.clone(), &format!("{path}/versions/x"), None, 400)
        .await;

    // Only the body changed: the diff names it alone, line by line.
    let diff = c
        .send(get.clone(), &format!("{path}/versions/1/diff/2"), None, 200)
        .await
        .json();
    let body = diff["diff"]["body"].as_str().expect("a body diff");
    assert!(body.contains("-Second line."), "{body}");
    assert!(body.contains("+A better second line."), "{body}");
    assert!(body.contains(" First line."), "{body}");
    assert!(diff["diff"].get("title").is_none(), "{diff}");

    // Restoring writes a fourth version equal to the first; someone else's is 403.
    let restore = format!("{path}/versions/1/restore");
    sign_in(c, bob);
    c.send(post.clone(), &restore, None, 403).await;
    sign_in(c, ann);
    let restored = c.send(post.clone(), &restore, None, 200).await.json();
    assert_eq!(restored["article"]["body"], "First line.\nSecond line.");
    let list = c
        .send(get.clone(), &format!("{path}/versions"), None, 200)
        .await
        .json();
    assert_eq!(list["versionsCount"], 4, "{list}");
    let same = c
        .send(get.clone(), &format!("{path}/versions/1/diff/4"), None, 200)
        .await
        .json();
    assert_eq!(same["diff"], json!({}), "{same}");
}

/// Each route as a reader, an author who is not the owner, the owner, an editor and the
/// admin see it: 403 with problem+json for what a role may not do.
async fn roles(c: &mut Contract, admin: &str, ann: &str, bob: &str) -> (String, String) {
    let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);
    let rita = register(c, "rita").await;
    let eddie = register(c, "eddie").await;
    let as_reader = json!({"role": "reader"});
    let as_editor = json!({"role": "editor"});

    // Only an admin grants roles, never their own; a role is one of four.
    let grant = |name: &str| format!("/api/cms/users/{name}/role");
    c.set_header("authorization", None);
    c.send(put.clone(), &grant("rita"), Some(&as_reader), 401)
        .await;
    sign_in(c, ann);
    let refused = c
        .send(put.clone(), &grant("rita"), Some(&as_reader), 403)
        .await;
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    assert!(refused.json()["errors"].is_object());
    c.send(get.clone(), &grant("ann"), None, 200).await;
    sign_in(c, admin);
    c.send(put.clone(), &grant("admin"), Some(&as_reader), 403)
        .await;
    c.send(put.clone(), &grant("nobody"), Some(&as_reader), 404)
        .await;
    c.send(
        put.clone(),
        &grant("rita"),
        Some(&json!({"role": "owner"})),
        422,
    )
    .await;
    let granted = c
        .send(put.clone(), &grant("rita"), Some(&as_reader), 200)
        .await
        .json();
    assert_eq!(granted["user"]["role"], "reader");
    c.send(put.clone(), &grant("eddie"), Some(&as_editor), 200)
        .await;

    // Ann's article and a comment of Rita's on it.
    sign_in(c, ann);
    let draft = json!({"article": {"title": "Roles", "description": "Who may", "body": "Text."}});
    let written = c
        .send(post.clone(), "/api/articles", Some(&draft), 201)
        .await
        .json();
    let path = format!(
        "/api/articles/{}",
        written["article"]["slug"].as_str().expect("a slug")
    );
    let retitle = json!({"article": {"body": "Edited."}});
    let comment = json!({"comment": {"body": "A reader's comment."}});

    // A reader reads, favorites, follows and comments; writes nothing and changes nothing.
    sign_in(c, &rita);
    let refused = c
        .send(post.clone(), "/api/articles", Some(&draft), 403)
        .await;
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    c.send(put.clone(), &path, Some(&retitle), 403).await;
    c.send(delete.clone(), &path, None, 403).await;
    c.send(post.clone(), &format!("{path}/favorite"), None, 200)
        .await;
    c.send(post.clone(), "/api/profiles/ann/follow", None, 200)
        .await;
    let added = c
        .send(
            post.clone(),
            &format!("{path}/comments"),
            Some(&comment),
            201,
        )
        .await
        .json();
    let comment_path = format!("{path}/comments/{}", added["comment"]["id"]);

    // An author who is not the owner changes neither the article nor the comment.
    sign_in(c, bob);
    c.send(put.clone(), &path, Some(&retitle), 403).await;
    c.send(delete.clone(), &path, None, 403).await;
    c.send(delete.clone(), &comment_path, None, 403).await;

    // An editor edits anyone's article and removes anyone's comment, but deletes no article.
    sign_in(c, &eddie);
    let edited = c.send(put.clone(), &path, Some(&retitle), 200).await.json();
    assert_eq!(edited["article"]["body"], "Edited.");
    assert_eq!(edited["article"]["author"]["username"], "ann");
    c.send(delete.clone(), &path, None, 403).await;
    c.send(delete.clone(), &comment_path, None, 204).await;
    // ... and restores any version of it, as a new one; a reader restores nothing.
    let restore = format!("{path}/versions/1/restore");
    let restored = c.send(post.clone(), &restore, None, 200).await.json();
    assert_eq!(restored["article"]["body"], "Text.");
    sign_in(c, &rita);
    c.send(post.clone(), &restore, None, 403).await;
    // Every role keeps its own profile.
    let bio = json!({"user": {"bio": "I only read."}});
    let me = c
        .send(put.clone(), "/api/user", Some(&bio), 200)
        .await
        .json();
    assert_eq!(me["user"]["bio"], "I only read.");

    // An author made a reader keeps their articles but changes them no more.
    let dora = register(c, "dora").await;
    sign_in(c, &dora);
    let hers = c
        .send(post.clone(), "/api/articles", Some(&draft), 201)
        .await
        .json();
    let her_path = format!(
        "/api/articles/{}",
        hers["article"]["slug"].as_str().expect("a slug")
    );
    sign_in(c, admin);
    c.send(put.clone(), &grant("dora"), Some(&as_reader), 200)
        .await;
    sign_in(c, &dora);
    c.send(put.clone(), &her_path, Some(&retitle), 403).await;
    c.send(delete.clone(), &her_path, None, 403).await;
    c.send(get.clone(), &her_path, None, 200).await;

    // The admin deletes anyone's article.
    sign_in(c, admin);
    c.send(delete.clone(), &path, None, 204).await;
    c.send(delete.clone(), &her_path, None, 204).await;
    (rita, eddie)
}

/// Whether `list` (an `articles` reply) holds the article at `slug`.
fn lists(list: &Value, slug: &str) -> bool {
    list["articles"]
        .as_array()
        .is_some_and(|all| all.iter().any(|a| a["slug"] == slug))
}

/// Draft, review, send back, approve, schedule: readers see an article only once it is
/// published, and only an editor who is not its author decides.
async fn workflow(c: &mut Contract, admin: &str, ann: &str, bob: &str, rita: &str, eddie: &str) {
    let (get, post, put) = (Method::GET, Method::POST, Method::PUT);
    let draft = json!({"article": {"title": "Coming soon", "description": "Not yet",
        "body": "Draft text.", "tagList": ["unreleased"]}});
    sign_in(c, rita);
    c.send(post.clone(), "/api/cms/drafts", Some(&draft), 403)
        .await;
    sign_in(c, ann);
    let written = c
        .send(post.clone(), "/api/cms/drafts", Some(&draft), 201)
        .await
        .json();
    assert_eq!(
        written["article"]["workflow"]["status"], "draft",
        "{written}"
    );
    let slug = written["article"]["slug"]
        .as_str()
        .expect("a slug")
        .to_owned();
    let path = format!("/api/articles/{slug}");
    let mine = c
        .send(get.clone(), "/api/cms/drafts", None, 200)
        .await
        .json();
    assert!(lists(&mine, &slug), "{mine}");

    // Unpublished: 404 to readers and other authors, nowhere in the spec's lists or tags;
    // its author and the editors read it.
    c.send(get.clone(), &path, None, 200).await;
    for reader in [None, Some(bob)] {
        c.set_header(
            "authorization",
            reader.map(|t| format!("Token {t}")).as_deref(),
        );
        c.send(get.clone(), &path, None, 404).await;
        c.send(get.clone(), &format!("{path}/versions"), None, 404)
            .await;
        c.send(
            post.clone(),
            &format!("{path}/favorite"),
            None,
            if reader.is_some() { 404 } else { 401 },
        )
        .await;
        let listed = c
            .send(get.clone(), "/api/articles?author=ann", None, 200)
            .await
            .json();
        assert!(!lists(&listed, &slug), "{listed}");
    }
    let tags = c.send(get.clone(), "/api/tags", None, 200).await.json();
    assert!(
        !tags["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("unreleased")),
        "{tags}"
    );
    sign_in(c, eddie);
    c.send(get.clone(), &path, None, 200).await;

    // Only its author submits, once; only an editor decides, and only on what is in review.
    let approve_now = json!({});
    c.send(
        post.clone(),
        &format!("{path}/approve"),
        Some(&approve_now),
        409,
    )
    .await;
    sign_in(c, bob);
    c.send(post.clone(), &format!("{path}/submit"), None, 404)
        .await;
    sign_in(c, ann);
    let submitted = c
        .send(post.clone(), &format!("{path}/submit"), None, 200)
        .await
        .json();
    assert_eq!(submitted["article"]["workflow"]["status"], "inReview");
    let twice = c
        .send(post.clone(), &format!("{path}/submit"), None, 409)
        .await
        .json();
    assert!(twice["errors"]["status"].is_array(), "{twice}");
    c.send(
        post.clone(),
        &format!("{path}/approve"),
        Some(&approve_now),
        403,
    )
    .await;
    c.send(get.clone(), "/api/cms/review", None, 403).await;
    // What the editors review is what they approve: its author waits to change it.
    let meanwhile = json!({"article": {"body": "Changed while in review."}});
    c.send(put.clone(), &path, Some(&meanwhile), 409).await;
    sign_in(c, eddie);
    let queue = c
        .send(get.clone(), "/api/cms/review", None, 200)
        .await
        .json();
    assert!(lists(&queue, &slug), "{queue}");

    // Sent back with a comment: a draft again, the comment on it; edited and resubmitted.
    let empty = json!({"comment": ""});
    let invalid = c
        .send(post.clone(), &format!("{path}/return"), Some(&empty), 422)
        .await
        .json();
    assert!(invalid["errors"]["comment"].is_array(), "{invalid}");
    let comment = json!({"comment": "Say when it comes."});
    let returned = c
        .send(post.clone(), &format!("{path}/return"), Some(&comment), 200)
        .await
        .json();
    let workflow = &returned["article"]["workflow"];
    assert_eq!(
        (
            workflow["status"].clone(),
            workflow["reviewComment"].clone()
        ),
        (json!("draft"), json!("Say when it comes.")),
        "{returned}"
    );
    sign_in(c, ann);
    let edit = json!({"article": {"body": "It comes on Monday."}});
    let edited = c.send(put.clone(), &path, Some(&edit), 200).await.json();
    assert_eq!(edited["article"]["workflow"]["status"], "draft");
    c.send(post.clone(), &format!("{path}/submit"), None, 200)
        .await;

    // Approved: published, in the lists as the newest, its tag in use, no workflow left.
    sign_in(c, eddie);
    let garbled = json!({"publishAt": "tomorrow"});
    let invalid = c
        .send(
            post.clone(),
            &format!("{path}/approve"),
            Some(&garbled),
            422,
        )
        .await
        .json();
    assert!(invalid["errors"]["publishAt"].is_array(), "{invalid}");
    let approved = c
        .send(
            post.clone(),
            &format!("{path}/approve"),
            Some(&approve_now),
            200,
        )
        .await
        .json();
    assert!(approved["article"].get("workflow").is_none(), "{approved}");
    c.set_header("authorization", None);
    let listed = c.send(get.clone(), "/api/articles", None, 200).await.json();
    assert_eq!(listed["articles"][0]["slug"], slug.as_str(), "{listed}");
    let tags = c.send(get.clone(), "/api/tags", None, 200).await.json();
    assert!(
        tags["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("unreleased")),
        "{tags}"
    );

    // Scheduled: an editor's own article takes another editor (the admin), and readers see
    // it from its time on, with no request needed to publish it.
    sign_in(c, eddie);
    let later = json!({"article": {"title": "Later", "description": "At a time", "body": "Soon."}});
    let written = c
        .send(post.clone(), "/api/cms/drafts", Some(&later), 201)
        .await
        .json();
    let later_path = format!(
        "/api/articles/{}",
        written["article"]["slug"].as_str().expect("a slug")
    );
    c.send(post.clone(), &format!("{later_path}/submit"), None, 200)
        .await;
    c.send(
        post.clone(),
        &format!("{later_path}/approve"),
        Some(&approve_now),
        403,
    )
    .await;
    sign_in(c, admin);
    let at = chrono::DateTime::from_timestamp_millis(cms::views::now_ms() as i64 + 2000);
    let at = json!({"publishAt": at.expect("a time").to_rfc3339()});
    let scheduled = c
        .send(
            post.clone(),
            &format!("{later_path}/approve"),
            Some(&at),
            200,
        )
        .await
        .json();
    assert_eq!(
        scheduled["article"]["workflow"]["status"], "scheduled",
        "{scheduled}"
    );
    c.set_header("authorization", None);
    c.send(get.clone(), &later_path, None, 404).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    c.send(get.clone(), &later_path, None, 200).await;
}

const BOUNDARY: &str = "scenario-boundary-7d1f";

/// A `multipart/form-data` body with one file field `name`, claiming `claimed` as its type.
fn form(name: &str, claimed: &str, file: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f\"\r\n\
         Content-Type: {claimed}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A request on a connection of its own: the server may close a connection whose body it
/// refused before reading it.
async fn alone(
    c: &Contract,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> allframe_test::TestResponse {
    let auth = format!("Token {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", content_type),
    ];
    allframe_test::Client::http1(c.addr())
        .await
        .request(Method::POST, "/api/cms/media", &headers, body)
        .await
}

/// Uploads: the type read from the bytes, the size limited, the file kept under its hash
/// and served with an `ETag`, conditional requests and ranges.
async fn media(c: &mut Contract, ann: &str, rita: &str) {
    let (get, post) = (Method::GET, Method::POST);
    let multipart = format!("multipart/form-data; boundary={BOUNDARY}");
    let upload = [("content-type", multipart.as_str())];
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend((0..2000u32).map(|i| (i % 251) as u8));

    c.set_header("authorization", None);
    c.send_raw(
        post.clone(),
        "/api/cms/media",
        &upload,
        form("file", "image/png", &png),
        401,
    )
    .await;
    sign_in(c, rita);
    c.send_raw(
        post.clone(),
        "/api/cms/media",
        &upload,
        form("file", "image/png", &png),
        403,
    )
    .await;

    // The bytes say PNG whatever the client claims; the same file twice is one file.
    sign_in(c, ann);
    let stored = c
        .send_raw(
            post.clone(),
            "/api/cms/media",
            &upload,
            form("file", "text/plain", &png),
            201,
        )
        .await
        .json();
    let hash: String = sha2::Sha256::digest(&png)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored["media"]["hash"], hash.as_str(), "{stored}");
    assert_eq!(stored["media"]["contentType"], "image/png");
    assert_eq!(stored["media"]["size"], png.len());
    let again = c
        .send_raw(
            post.clone(),
            "/api/cms/media",
            &upload,
            form("file", "image/png", &png),
            201,
        )
        .await
        .json();
    assert_eq!(again["media"]["url"], stored["media"]["url"]);
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n";
    let document = c
        .send_raw(
            post.clone(),
            "/api/cms/media",
            &upload,
            form("file", "image/png", pdf),
            201,
        )
        .await
        .json();
    assert_eq!(document["media"]["contentType"], "application/pdf");

    // What is not an image or a PDF is 415 whatever it claims; a form without `file` 422.
    let html = form(
        "file",
        "image/png",
        b"<html><script>alert(1)</script></html>",
    );
    let refused = c
        .send_raw(post.clone(), "/api/cms/media", &upload, html, 415)
        .await
        .json();
    assert!(refused["errors"]["file"].is_array(), "{refused}");
    let unnamed = c
        .send_raw(
            post.clone(),
            "/api/cms/media",
            &upload,
            form("picture", "image/png", &png),
            422,
        )
        .await
        .json();
    assert!(unnamed["errors"]["file"].is_array(), "{unnamed}");

    // Too large (413), not multipart (415), not well-formed (400): each on its own
    // connection, which the server may close having refused its body unread.
    // Declared too large: refused before a byte of it is sent (sending 6 MiB would race
    // the server closing the connection it refused).
    let mut raw = allframe_test::RawConnection::connect(c.addr()).await;
    let head = format!(
        "POST /api/cms/media HTTP/1.1\r\nHost: cms\r\nAuthorization: Token {ann}\r\n\
         Content-Type: {multipart}\r\nContent-Length: {}\r\n\r\n",
        6 * 1024 * 1024
    );
    raw.write(head.as_bytes()).await;
    let refused = raw.read_response().await.expect("an answer");
    assert_eq!(refused.status, 413);
    let refused = alone(c, ann, "application/json", b"{}".to_vec()).await;
    assert_eq!(refused.status, 415, "{}", refused.text());
    let truncated = form("file", "image/png", &png)[..100].to_vec();
    let refused = alone(c, ann, &multipart, truncated).await;
    assert_eq!(refused.status, 400, "{}", refused.text());

    // Served as what it is, tagged with its hash, cached for good, in ranges.
    let url = stored["media"]["url"].as_str().expect("a url").to_owned();
    c.set_header("authorization", None);
    let served = c.send(get.clone(), &url, None, 200).await;
    assert_eq!(served.body.as_ref(), png.as_slice());
    assert_eq!(served.header("content-type"), Some("image/png"));
    let etag = format!("\"{hash}\"");
    assert_eq!(served.header("etag"), Some(etag.as_str()));
    assert_eq!(served.header("accept-ranges"), Some("bytes"));
    assert!(
        served
            .header("cache-control")
            .is_some_and(|v| v.contains("immutable"))
    );
    let cached = c
        .send_raw(
            get.clone(),
            &url,
            &[("if-none-match", &etag)],
            Vec::new(),
            304,
        )
        .await;
    assert!(cached.body.is_empty());
    let part = c
        .send_raw(
            get.clone(),
            &url,
            &[("range", "bytes=0-3")],
            Vec::new(),
            206,
        )
        .await;
    assert_eq!(part.body.as_ref(), &png[..4]);
    let whole = format!("bytes 0-3/{}", png.len());
    assert_eq!(part.header("content-range"), Some(whole.as_str()));
    let tail = c
        .send_raw(get.clone(), &url, &[("range", "bytes=-5")], Vec::new(), 206)
        .await;
    assert_eq!(tail.body.as_ref(), &png[png.len() - 5..]);
    let past = c
        .send_raw(
            get.clone(),
            &url,
            &[("range", "bytes=99999-")],
            Vec::new(),
            416,
        )
        .await;
    let unsatisfied = format!("bytes */{}", png.len());
    assert_eq!(past.header("content-range"), Some(unsatisfied.as_str()));
    // A range of another version of the file is not a range of this one: all of it.
    let stale = [("range", "bytes=0-3"), ("if-range", "\"other\"")];
    let all = c.send_raw(get.clone(), &url, &stale, Vec::new(), 200).await;
    assert_eq!(all.body.len(), png.len());
    c.send(
        get.clone(),
        &format!("/api/cms/media/{}", "0".repeat(64)),
        None,
        404,
    )
    .await;
    c.send(
        get.clone(),
        &format!("/api/cms/media/{}", hash.to_uppercase()),
        None,
        404,
    )
    .await;
    c.send(get.clone(), "/api/cms/media/secret", None, 404)
        .await;
}

/// A GraphQL query over HTTP; its `data`, after checking there are no `errors`.
async fn query(c: &mut Contract, query: &str) -> Value {
    let reply = c
        .send(
            Method::POST,
            "/graphql",
            Some(&json!({ "query": query })),
            200,
        )
        .await
        .json();
    assert!(reply.get("errors").is_none(), "{query}: {reply}");
    reply["data"].clone()
}

/// GraphQL reads what the REST API reads, as a reader who is not signed in; the
/// subscription delivers each article when readers first see it, scheduled ones included.
async fn graphql(c: &mut Contract, ann: &str, eddie: &str) {
    c.set_header("authorization", None);
    let rest = c
        .send(Method::GET, "/api/articles?author=ann&limit=2", None, 200)
        .await
        .json();
    let listed = query(
        c,
        r#"{ articles(author: "ann", limit: 2) { articlesCount articles { slug body author { username } } } }"#,
    )
    .await;
    let list = &listed["articles"];
    assert_eq!(list["articlesCount"], rest["articlesCount"], "{listed}");
    assert_eq!(list["articles"][0]["slug"], rest["articles"][0]["slug"]);
    assert!(
        list["articles"][0]["body"].is_null(),
        "lists leave bodies out: {listed}"
    );
    let slug = rest["articles"][0]["slug"]
        .as_str()
        .expect("a slug")
        .to_owned();
    let one = query(
        c,
        &format!(r#"{{ article(slug: "{slug}") {{ title body tagList favoritesCount }} comments(slug: "{slug}") {{ body }} }}"#),
    )
    .await;
    assert!(one["article"]["body"].is_string(), "{one}");
    assert!(one["comments"].is_array(), "{one}");
    let people = query(c, r#"{ profile(username: "ann") { username bio following } nobody: profile(username: "nobody") { username } tags }"#).await;
    assert_eq!(people["profile"]["bio"], "I write.", "{people}");
    assert!(people["nobody"].is_null(), "{people}");
    assert!(
        people["tags"].as_array().is_some_and(|t| !t.is_empty()),
        "{people}"
    );
    let refused = c
        .send(
            Method::POST,
            "/graphql",
            Some(&json!({"query": "{ articles(limit: 0) { articlesCount } }"})),
            200,
        )
        .await
        .json();
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limit")),
        "{refused}"
    );

    // Subscribed from a time before both articles: neither can be missed, whichever of
    // the subscription and the writes the server handles first.
    let since = chrono::DateTime::from_timestamp_millis(cms::views::now_ms() as i64)
        .expect("a time")
        .to_rfc3339();
    let mut socket = allframe_test::GraphQLSocket::connect(c.addr(), "/graphql", None).await;
    let subscription =
        format!(r#"subscription {{ articlePublished(since: "{since}") {{ slug title }} }}"#);
    socket.subscribe("1", &subscription, json!({})).await;

    // One scheduled a second ahead (by the editor), one published at once.
    sign_in(c, ann);
    let later =
        json!({"article": {"title": "Scheduled for GraphQL", "description": "d", "body": "b"}});
    let draft = c
        .send(Method::POST, "/api/cms/drafts", Some(&later), 201)
        .await
        .json();
    let later_path = format!(
        "/api/articles/{}",
        draft["article"]["slug"].as_str().expect("a slug")
    );
    c.send(Method::POST, &format!("{later_path}/submit"), None, 200)
        .await;
    sign_in(c, eddie);
    let at_ms = cms::views::now_ms() + 1000;
    let at = chrono::DateTime::from_timestamp_millis(at_ms as i64).expect("a time");
    let at = json!({"publishAt": at.to_rfc3339()});
    c.send(
        Method::POST,
        &format!("{later_path}/approve"),
        Some(&at),
        200,
    )
    .await;
    sign_in(c, ann);
    let now = json!({"article": {"title": "Live on GraphQL", "description": "d", "body": "b"}});
    c.send(Method::POST, "/api/articles", Some(&now), 201).await;
    c.set_header("authorization", None);

    let mut titles = Vec::new();
    for _ in 0..2 {
        let next = socket.next_of("1").await;
        let title = next["payload"]["data"]["articlePublished"]["title"].clone();
        if title == "Scheduled for GraphQL" {
            assert!(cms::views::now_ms() >= at_ms, "delivered before its time");
        }
        titles.push(title);
    }
    titles.sort_by_key(|t| t.to_string());
    assert_eq!(
        titles,
        [json!("Live on GraphQL"), json!("Scheduled for GraphQL")]
    );
}

/// The schema `schema` points to, following a `$ref` into `components`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(path) => {
            let name = path.rsplit('/').next().expect("a name");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The OpenAPI document at `/openapi.json` describes every REST route, with the limits its
/// handler enforces, so a generated client never sends what the server refuses.
async fn document(c: &mut Contract) {
    let doc = c.send(Method::GET, "/openapi.json", None, 200).await.json();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("operations") {
            let undescribed = op["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Not described"));
            assert!(
                !undescribed || path == "/graphql",
                "{method} {path} is not described"
            );
        }
    }
    let register = &paths["/api/users"]["post"];
    let body = resolve(
        &doc,
        &register["requestBody"]["content"]["application/json"]["schema"],
    );
    let user = resolve(&doc, &body["properties"]["user"]);
    let password = &user["properties"]["password"];
    assert_eq!(
        (password["minLength"].clone(), password["maxLength"].clone()),
        (json!(8), json!(128)),
        "{user}"
    );
    assert!(
        user["properties"]["username"]["pattern"].is_string(),
        "{user}"
    );
    assert!(register["responses"]["422"].is_object(), "{register}");
    // An update's fields may be left out; the strings are not nullable and have no `null`
    // default a client would send, bio and image are nullable with their limit.
    let update = &paths["/api/user"]["put"]["requestBody"]["content"]["application/json"];
    let body = resolve(&doc, &update["schema"]);
    let user = resolve(&doc, &body["properties"]["user"]);
    assert!(user.get("required").is_none(), "{user}");
    let fields = &user["properties"];
    for field in ["username", "email", "password"] {
        assert_eq!(fields[field]["type"], "string", "{user}");
        assert!(fields[field].get("default").is_none(), "{user}");
    }
    for field in ["bio", "image"] {
        assert_eq!(fields[field]["type"], json!(["string", "null"]), "{user}");
        assert_eq!(fields[field]["maxLength"], 2000, "{user}");
    }
    let upload = &paths["/api/cms/media"]["post"]["requestBody"];
    assert!(
        upload["content"]["multipart/form-data"].is_object(),
        "{upload}"
    );
    let limit = format!("At most {} bytes", cms::media::MEDIA_LIMIT);
    assert!(
        upload["description"]
            .as_str()
            .is_some_and(|d| d.contains(&limit)),
        "{upload}"
    );
    let list = &paths["/api/articles"]["get"]["parameters"];
    let names: Vec<&str> = list
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["tag", "author", "favorited", "limit", "offset"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let served = &paths["/api/cms/media/{hash}"]["get"]["responses"];
    for status in ["206", "304", "416"] {
        assert!(served[status].is_object(), "{status}: {served}");
    }
}
