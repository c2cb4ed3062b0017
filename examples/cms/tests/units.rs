//! Parts of the CMS checked on their own: slugs, and how a user's change is stored.

use cms::domain::CmsEvent;
use cms::slug;

#[test]
fn a_long_title_is_cut_at_a_character_and_never_after_a_dash() {
    let id = "3fa9c1d2e3f4a5b6";
    // 27 three-byte characters: the 80th byte is inside the 27th.
    let chinese = "龍".repeat(27);
    assert_eq!(slug(&chinese, id), format!("{}-3fa9c1", "龍".repeat(26)));
    // `abc-` twenty times is 80 bytes: the cut there would end in a dash.
    let cut = slug(&["abc"; 30].join(" "), id);
    assert!(!cut.contains("--"), "{cut}");
    assert_eq!(cut, format!("{}-3fa9c1", ["abc"; 20].join("-")));
    assert_eq!(
        slug("How to train your dragon", id),
        "how-to-train-your-dragon-3fa9c1"
    );
}

fn changed(bio: Option<Option<String>>) -> CmsEvent {
    CmsEvent::UserChanged {
        id: "u".into(),
        username: None,
        email: None,
        password_hash: None,
        bio,
        image: None,
    }
}

#[test]
fn a_cleared_bio_is_still_cleared_when_read_back_and_an_old_null_is_unchanged() {
    for bio in [None, Some(None), Some(Some("I write.".to_owned()))] {
        let json = serde_json::to_string(&changed(bio.clone())).unwrap();
        let back: CmsEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, changed(bio), "{json}");
    }
    let old = r#"{"UserChanged":{"id":"u","username":null,"email":null,"password_hash":null,"bio":null,"image":null}}"#;
    assert_eq!(
        serde_json::from_str::<CmsEvent>(old).unwrap(),
        changed(None)
    );
}
