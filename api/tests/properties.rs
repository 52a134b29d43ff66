//! Property tests (proptest) over every parser at the edge: whatever a client sends, each
//! parser answers without panicking, refuses with an error naming the field it was given,
//! and what it accepts is canonical — parsing it again gives it back unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use custodian_api::domain::contact::{
    Email, EmailKind, Phone, PhoneKind, PostalAddress, PostalAddressParts, bounded_list,
    parse_custom_fields, parse_tags,
};
use custodian_api::domain::country::CountryCode;
use custodian_api::pagination::{Cursor, PageRequest};
use proptest::prelude::*;

/// Strings near the edge of what parsers see: arbitrary Unicode, and mixtures of the
/// characters addresses and numbers are made of.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9.+_@ ()\\-]{0,40}",
        "[+]?[0-9 ()\\-.]{0,24}",
        "[a-zéü例え用户]{1,12}@[a-z例え0-9\\-]{1,12}\\.[a-zA-Zjp]{2,4}",
        "[a-z]{1,8}@xn--[a-z0-9]{1,10}\\.[a-z]{2,3}",
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn emails_are_refused_by_field_or_accepted_canonically(text in texty()) {
        match Email::parse("emails[3].address", &text, EmailKind::Work) {
            Ok(e) => {
                prop_assert!(e.address.chars().count() <= 254);
                let again = Email::parse("e", &e.address, EmailKind::Work).unwrap();
                prop_assert_eq!(&again.address, &e.address, "canonical: parses to itself");
            }
            Err(e) => prop_assert_eq!(e.field, "emails[3].address"),
        }
    }

    #[test]
    fn phones_are_refused_by_field_or_stored_as_e164(text in texty()) {
        match Phone::parse("phones[0].number", &text, PhoneKind::Mobile) {
            Ok(p) => {
                let digits = p.number.strip_prefix('+').unwrap();
                prop_assert!((7..=15).contains(&digits.len()), "{}", p.number);
                prop_assert!(digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0'));
                let again = Phone::parse("p", &p.number, PhoneKind::Mobile).unwrap();
                prop_assert_eq!(again.number, p.number);
            }
            Err(e) => prop_assert_eq!(e.field, "phones[0].number"),
        }
    }

    #[test]
    fn countries_are_assigned_alpha2_codes(text in prop_oneof![any::<String>(), "[a-zA-Z]{0,3}"]) {
        match CountryCode::parse("country", &text) {
            Ok(c) => {
                prop_assert!(c.as_str().len() == 2 && c.as_str().chars().all(|ch| ch.is_ascii_uppercase()));
                prop_assert_eq!(CountryCode::parse("c", c.as_str()).unwrap(), c);
            }
            Err(e) => prop_assert_eq!(e.field, "country"),
        }
    }

    #[test]
    fn postal_addresses_name_the_part_at_fault(
        lines in prop::collection::vec(any::<String>(), 0..6),
        city in proptest::option::of(any::<String>()),
        country in prop_oneof![any::<String>(), Just("GB".to_owned()), Just("de".to_owned())],
    ) {
        let parts = PostalAddressParts {
            kind: Default::default(),
            lines: &lines,
            city: city.as_deref(),
            region: None,
            postal_code: None,
            country: &country,
        };
        if let Err(e) = PostalAddress::parse("addresses[2]", parts) {
            prop_assert!(e.field.starts_with("addresses[2]"), "{}", e.field);
        }
    }

    #[test]
    fn custom_fields_are_a_bounded_object(value in json_value()) {
        match parse_custom_fields("customFields", value.clone()) {
            Ok(map) => {
                prop_assert!(value.is_object());
                prop_assert!(serde_json::to_string(&map).unwrap().len() <= 16 * 1024);
            }
            Err(e) => prop_assert!(e.field.starts_with("customFields"), "{}", e.field),
        }
    }

    #[test]
    fn tags_are_trimmed_unique_and_bounded(tags in prop::collection::vec(any::<String>(), 0..60)) {
        if bounded_list("tags", &tags, 50).is_err() {
            prop_assert!(tags.len() > 50);
        }
        match parse_tags("tags", &tags) {
            Ok(out) => {
                let mut unique = out.clone();
                unique.sort();
                unique.dedup();
                prop_assert_eq!(unique.len(), out.len(), "no tag twice");
                prop_assert!(out.iter().all(|t| !t.is_empty() && t.trim() == t));
            }
            Err(e) => prop_assert!(e.field.starts_with("tags"), "{}", e.field),
        }
    }

    #[test]
    fn page_arguments_and_cursors_are_refused_by_field_or_round_trip(
        first in proptest::option::of(any::<i32>()),
        after in proptest::option::of(prop_oneof![any::<String>(), "[A-Za-z0-9_\\-]{0,60}"]),
        last in proptest::option::of(any::<i32>()),
        key in any::<String>(),
        id in any::<u128>(),
    ) {
        match PageRequest::parse(first, after.as_deref(), last, None) {
            Ok(page) => prop_assert!(page.limit <= 100),
            Err(e) => prop_assert!(["first", "after", "last"].contains(&e.field.as_str()), "{}", e.field),
        }
        let cursor = Cursor { key, id: uuid::Uuid::from_u128(id) };
        let page = PageRequest::parse(Some(10), Some(&cursor.encode()), None, None).unwrap();
        prop_assert_eq!(page.cursor, Some(cursor));
    }
}
