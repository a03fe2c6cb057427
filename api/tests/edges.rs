//! The contract at its edges: each limit at exactly its value and one past it, and the words
//! of each refusal, through the crate's public API (cargo-mutants found these unchecked).

use fanout_api::{
    ComicId, ErrorCode, MAX_BATCH_QUERY_LEN, MAX_IMAGE_NAME_LEN, NetSim, parse_batch_query,
    validate_image_name,
};

#[test]
fn an_image_name_may_be_exactly_the_longest_allowed() {
    let longest = format!("{}.png", "a".repeat(MAX_IMAGE_NAME_LEN - 4));
    assert_eq!(
        validate_image_name(&longest).map(str::len),
        Ok(MAX_IMAGE_NAME_LEN)
    );
    let over = format!("a{longest}");
    let refusal = validate_image_name(&over).unwrap_err().to_string();
    assert!(refusal.contains("must be 1 to 128 characters"), "{refusal}");
}

#[test]
fn a_batch_query_may_be_exactly_the_longest_allowed() {
    let padded = |len: usize| format!("ids=1&pad={}", "x".repeat(len - "ids=1&pad=".len()));
    let longest = padded(MAX_BATCH_QUERY_LEN);
    assert_eq!(longest.len(), MAX_BATCH_QUERY_LEN);
    assert_eq!(parse_batch_query(&longest).unwrap().ids, [ComicId::Number(1)]);
    let refusal = parse_batch_query(&padded(MAX_BATCH_QUERY_LEN + 1))
        .unwrap_err()
        .to_string();
    assert!(refusal.contains("a batch query may be at most 1536"), "{refusal}");
}

#[test]
fn a_bad_comic_id_in_json_says_what_is_expected() {
    for json in ["0", "\"first\"", "-1"] {
        let err = serde_json::from_str::<ComicId>(json).unwrap_err().to_string();
        assert!(
            err.contains("expected a comic number from 1 to 999999 or \"latest\""),
            "{json}: {err}"
        );
    }
}

#[test]
fn each_error_code_has_its_own_meaning_in_words() {
    // Every status the README lists.
    let codes: Vec<ErrorCode> = [400, 404, 405, 414, 421, 429, 431, 502, 503, 504]
        .into_iter()
        .map(|status| ErrorCode::from_status(status).unwrap_or_else(|| panic!("{status}")))
        .collect();
    let meanings: Vec<&str> = codes.iter().map(|code| code.meaning()).collect();
    assert_eq!(ErrorCode::NotFound.meaning(), "no such image");
    for (i, meaning) in meanings.iter().enumerate() {
        assert!(meaning.contains(' '), "{meaning}");
        assert!(!meanings[..i].contains(meaning), "{meaning} twice");
    }
}

#[test]
fn the_simulations_query_names_only_what_is_set() {
    let query = NetSim::default().to_query();
    for absent in ["fail_rate", "timeout_rate", "missing_rate", "attempt"] {
        assert!(!query.contains(absent), "{absent} in {query}");
    }
}

#[test]
fn whole_numbers_are_up_to_twenty_digits_and_refusals_quote_the_value_briefly() {
    let twenty = "00000000000000000001";
    assert_eq!(NetSim::from_query(&format!("seed={twenty}")).unwrap().seed, 1);
    for value in ["", "12a", &format!("0{twenty}")] {
        let err = NetSim::from_query(&format!("seed={value}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("seed must be a non-negative whole number, got {value:?}"),
            "{value}"
        );
    }
    // A long value is quoted by its first 24 characters.
    let long = format!("{}x", "1".repeat(40));
    let err = NetSim::from_query(&format!("seed={long}"))
        .unwrap_err()
        .to_string();
    assert!(err.ends_with(&format!("got {:?}", &long[..24])), "{err}");
}
