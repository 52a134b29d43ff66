//! A contact's personal data, validated on the way in.

use async_graphql::Enum;
use serde::{Deserialize, Serialize};

use super::country::CountryCode;
use super::{Invalid, bounded_text, optional_text};

pub const MAX_NAME: usize = 200;
pub const MAX_EMAILS: usize = 20;
pub const MAX_PHONES: usize = 20;
pub const MAX_ADDRESSES: usize = 10;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG: usize = 64;
pub const MAX_CUSTOM_FIELDS_BYTES: usize = 16 * 1024;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmailKind {
    Work,
    Personal,
    #[default]
    Other,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhoneKind {
    #[default]
    Mobile,
    Work,
    Home,
    Fax,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AddressKind {
    Work,
    Home,
    #[default]
    Other,
}

/// How the controller obtained the contact.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactSource {
    #[default]
    Direct,
    Import,
    ThirdParty,
}

impl ContactSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "DIRECT",
            Self::Import => "IMPORT",
            Self::ThirdParty => "THIRD_PARTY",
        }
    }

    pub fn from_db(value: &str) -> Self {
        match value {
            "IMPORT" => Self::Import,
            "THIRD_PARTY" => Self::ThirdParty,
            _ => Self::Direct,
        }
    }
}

/// A data subject's marketing choice for one channel.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consent {
    #[default]
    Unknown,
    OptedIn,
    OptedOut,
}

impl Consent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::OptedIn => "OPTED_IN",
            Self::OptedOut => "OPTED_OUT",
        }
    }

    pub fn from_db(value: &str) -> Self {
        match value {
            "OPTED_IN" => Self::OptedIn,
            "OPTED_OUT" => Self::OptedOut,
            _ => Self::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub address: String,
    #[serde(default)]
    pub kind: EmailKind,
}

impl Email {
    /// Accepts an address as RFC 5322 and, for internationalised ones, RFC 6531 have it
    /// (the `email_address` crate checks the local part; IDNA, UTS 46, the domain), and
    /// keeps one canonical form, so search and erasure find an address however it was
    /// typed: the local part as given, the domain lower-cased and in Unicode
    /// (`ada@xn--r8jz45g.jp` and `ada@例え.JP` are both `ada@例え.jp`).
    ///
    /// # Errors
    /// [`Invalid`] naming `field`.
    pub fn parse(field: &str, address: &str, kind: EmailKind) -> Result<Self, Invalid> {
        let bad = || Invalid::new(field, format!("{field} is not a valid email address"));
        let address = address.trim();
        if address.chars().count() > 254 {
            return Err(Invalid::new(
                field,
                format!("{field} must be at most 254 characters"),
            ));
        }
        let (local, domain) = address.rsplit_once('@').ok_or_else(bad)?;
        let ascii = idna::domain_to_ascii(domain).map_err(|_| bad())?;
        let labels: Vec<&str> = ascii.split('.').collect();
        let domain_ok = labels.len() >= 2
            && ascii.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && email_address::EmailAddress::parse_with_options(
                &format!("{local}@{ascii}"),
                email_address::Options::default().without_display_text(),
            )
            .is_ok();
        if !(local_ok && domain_ok) {
            return Err(bad());
        }
        let (unicode, _) = idna::domain_to_unicode(&ascii);
        Ok(Self {
            address: format!("{local}@{unicode}"),
            kind,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    /// E.164: `+`, country code and subscriber number, 7 to 15 digits in all.
    pub number: String,
    #[serde(default)]
    pub kind: PhoneKind,
}

impl Phone {
    /// Accepts an international number (`+`, country code, number; spaces, dashes, dots
    /// and parentheses as people type them are ignored) that libphonenumber's metadata
    /// (the `phonenumber` crate) knows as a real number of a real country, and stores it
    /// as E.164: `+999123456789` is refused, there is no country code 999.
    ///
    /// # Errors
    /// [`Invalid`] naming `field`.
    pub fn parse(field: &str, number: &str, kind: PhoneKind) -> Result<Self, Invalid> {
        let compact: String = number
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let bad = |why: &str| {
            Invalid::new(
                field,
                format!("{field} {why}: give it in international form, such as +442071234567"),
            )
        };
        let digits = compact
            .strip_prefix('+')
            .ok_or_else(|| bad("has no country code"))?;
        if !(7..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("is not a phone number"));
        }
        let parsed =
            phonenumber::parse(None, &compact).map_err(|_| bad("is not a phone number"))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(bad("is not a valid number for its country"));
        }
        Ok(Self {
            number: parsed.format().mode(phonenumber::Mode::E164).to_string(),
            kind,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    #[serde(default)]
    pub kind: AddressKind,
    pub lines: Vec<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// The unvalidated parts of a postal address, as a client sent them.
pub struct PostalAddressParts<'a> {
    pub kind: AddressKind,
    pub lines: &'a [String],
    pub city: Option<&'a str>,
    pub region: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    pub country: &'a str,
}

impl PostalAddress {
    /// # Errors
    /// [`Invalid`] naming the sub-field of `field` at fault.
    pub fn parse(field: &str, parts: PostalAddressParts<'_>) -> Result<Self, Invalid> {
        if parts.lines.len() > 4 {
            return Err(Invalid::new(
                format!("{field}.lines"),
                format!("{field}.lines must have at most 4 lines"),
            ));
        }
        let lines = parts
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| bounded_text(&format!("{field}.lines[{i}]"), l, 200, false))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect();
        Ok(Self {
            kind: parts.kind,
            lines,
            city: optional_text(&format!("{field}.city"), parts.city, 100)?,
            region: optional_text(&format!("{field}.region"), parts.region, 100)?,
            postal_code: optional_text(&format!("{field}.postalCode"), parts.postal_code, 20)?,
            country: CountryCode::parse(&format!("{field}.country"), parts.country)?
                .as_str()
                .to_owned(),
        })
    }
}

/// Checks the count of a list input.
///
/// # Errors
/// [`Invalid`] naming `field` when the list is longer than `max`.
pub fn bounded_list<T>(field: &str, items: &[T], max: usize) -> Result<(), Invalid> {
    if items.len() > max {
        return Err(Invalid::new(
            field,
            format!("{field} must have at most {max} entries"),
        ));
    }
    Ok(())
}

/// Trims, checks and de-duplicates tags, keeping their order.
///
/// # Errors
/// [`Invalid`] naming the tag at fault.
pub fn parse_tags(field: &str, tags: &[String]) -> Result<Vec<String>, Invalid> {
    bounded_list(field, tags, MAX_TAGS)?;
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        let tag = bounded_text(&format!("{field}[{i}]"), tag, MAX_TAG, true)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// Custom fields are a JSON object the controller defines, bounded in size.
///
/// # Errors
/// [`Invalid`] naming `field` when the value is not an object or is too large.
pub fn parse_custom_fields(
    field: &str,
    value: serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>, Invalid> {
    let serde_json::Value::Object(map) = value else {
        return Err(Invalid::new(
            field,
            format!("{field} must be a JSON object"),
        ));
    };
    if serde_json::to_vec(&map).map_or(usize::MAX, |v| v.len()) > MAX_CUSTOM_FIELDS_BYTES {
        return Err(Invalid::new(
            field,
            format!("{field} must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes as JSON"),
        ));
    }
    Ok(map)
}

/// Validated changes to a contact: `None` leaves a field as it is. Creating a contact
/// applies changes to an empty one, so both paths validate the same way.
#[derive(Debug, Clone, Default)]
pub struct ContactChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub emails: Option<Vec<Email>>,
    pub phones: Option<Vec<Phone>>,
    pub addresses: Option<Vec<PostalAddress>>,
    pub employer: Option<Option<String>>,
    pub job_title: Option<Option<String>>,
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    pub tags: Option<Vec<String>>,
    pub source: Option<ContactSource>,
    pub marketing_email: Option<Consent>,
    pub marketing_sms: Option<Consent>,
    pub marketing_phone: Option<Consent>,
    pub opt_out_sale: Option<bool>,
    pub opt_out_sharing: Option<bool>,
}

impl ContactChanges {
    /// The GraphQL names of the fields these changes set.
    pub fn field_names(&self) -> Vec<String> {
        let set = [
            ("firstName", self.first_name.is_some()),
            ("lastName", self.last_name.is_some()),
            ("emails", self.emails.is_some()),
            ("phones", self.phones.is_some()),
            ("addresses", self.addresses.is_some()),
            ("employer", self.employer.is_some()),
            ("jobTitle", self.job_title.is_some()),
            ("customFields", self.custom_fields.is_some()),
            ("tags", self.tags.is_some()),
            ("source", self.source.is_some()),
            (
                "marketingPreferences",
                self.marketing_email.is_some()
                    || self.marketing_sms.is_some()
                    || self.marketing_phone.is_some(),
            ),
            ("optOutOfSale", self.opt_out_sale.is_some()),
            ("optOutOfSharing", self.opt_out_sharing.is_some()),
        ];
        set.iter()
            .filter(|(_, present)| *present)
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }
}

/// The lower-cased text the contact filter searches: names, email addresses, phone
/// numbers (as typed in E.164 and as bare digits) and employer.
pub fn search_text(
    first_name: &str,
    last_name: &str,
    emails: &[Email],
    phones: &[Phone],
    employer: Option<&str>,
) -> String {
    let mut parts: Vec<String> = vec![format!("{first_name} {last_name}")];
    parts.extend(emails.iter().map(|e| e.address.clone()));
    for p in phones {
        parts.push(p.number.clone());
    }
    parts.extend(employer.map(str::to_owned));
    parts.join("\n").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_their_domain_lower_cased() {
        let e = Email::parse("e", " Ada@Example.COM ", EmailKind::Work);
        assert_eq!(e.map(|e| e.address), Ok("Ada@example.com".to_owned()));
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@exa_mple.com",
            "ada..l@example.com",
            "ada@127.0.0.1",
            "ada@-example.com",
        ] {
            assert!(Email::parse("e", bad, EmailKind::Work).is_err(), "{bad}");
        }
    }

    #[test]
    fn internationalised_addresses_are_accepted_in_one_canonical_form() {
        for (typed, stored) in [
            ("ada@例え.jp", "ada@例え.jp"),
            ("ada@xn--r8jz45g.jp", "ada@例え.jp"),
            ("ada@例え.JP", "ada@例え.jp"),
            ("josé@bücher.de", "josé@bücher.de"),
            ("josé@xn--bcher-kva.de", "josé@bücher.de"),
            ("用户@例子.广告", "用户@例子.广告"),
        ] {
            assert_eq!(
                Email::parse("e", typed, EmailKind::Work).map(|e| e.address),
                Ok(stored.to_owned()),
                "{typed}"
            );
        }
    }

    #[test]
    fn phones_must_be_e164_after_removing_typing_aids() {
        assert_eq!(
            Phone::parse("p", "+44 (20) 7123-4567", PhoneKind::Fax).map(|p| p.number),
            Ok("+442071234567".to_owned())
        );
        for bad in [
            "",
            "02071234567",
            "+0123456789",
            "+12",
            "+1234567890123456",
            "+44abc1234567",
            "+999123456789",
            "+4420719990001",
            "+1 202 555",
        ] {
            assert!(Phone::parse("p", bad, PhoneKind::Mobile).is_err(), "{bad}");
        }
        for (typed, stored) in [
            ("+33 1 42 68 53 00", "+33142685300"),
            ("+1 (415) 555-0100", "+14155550100"),
            ("+49 30 901820", "+4930901820"),
            ("+81 3-1234-5678", "+81312345678"),
        ] {
            assert_eq!(
                Phone::parse("p", typed, PhoneKind::Mobile).map(|p| p.number),
                Ok(stored.to_owned()),
                "{typed}"
            );
        }
    }

    #[test]
    fn custom_fields_must_be_a_bounded_object() {
        assert!(parse_custom_fields("c", serde_json::json!({"a": 1})).is_ok());
        assert!(parse_custom_fields("c", serde_json::json!([1])).is_err());
        assert!(parse_custom_fields("c", serde_json::json!("x")).is_err());
        let big = "x".repeat(MAX_CUSTOM_FIELDS_BYTES);
        assert!(parse_custom_fields("c", serde_json::json!({ "a": big })).is_err());
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let tags = parse_tags("t", &[" vip ".into(), "vip".into(), "lead".into()]);
        assert_eq!(tags, Ok(vec!["vip".to_owned(), "lead".to_owned()]));
        assert!(parse_tags("t", &["".into()]).is_err());
    }
}
