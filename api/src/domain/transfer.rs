//! International transfers out of the EEA, the UK and Switzerland, and their safeguards.

use async_graphql::Enum;
use chrono::{DateTime, Utc};

use super::country::CountryCode;
use super::instruction::DataCategory;
use super::{Invalid, optional_text};

/// Where the transferred data comes from: the regime that restricts the transfer.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginRegion {
    /// European Economic Area (GDPR Chapter V).
    #[graphql(name = "EEA")]
    Eea,
    /// United Kingdom (UK GDPR Chapter V).
    #[graphql(name = "UK")]
    Uk,
    /// Switzerland (FADP Art. 16).
    #[graphql(name = "CH")]
    Ch,
}

impl OriginRegion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eea => "EEA",
            Self::Uk => "UK",
            Self::Ch => "CH",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "EEA" => Some(Self::Eea),
            "UK" => Some(Self::Uk),
            "CH" => Some(Self::Ch),
            _ => None,
        }
    }

    /// Destinations inside the region: sending there is no international transfer.
    fn members(self) -> &'static [&'static str] {
        match self {
            Self::Eea => EEA,
            Self::Uk => &["GB"],
            Self::Ch => &["CH"],
        }
    }

    /// Countries the region's authority has found adequate (as published at the time of
    /// writing; partial findings such as Canada's commercial-organisations decision and
    /// the US Data Privacy Framework are included and the record's reference says which).
    fn adequate(self) -> &'static [&'static str] {
        match self {
            Self::Eea => &[
                "AD", "AR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ", "US",
                "UY",
            ],
            Self::Uk => &[
                "AD", "AR", "AT", "BE", "BG", "CA", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI",
                "FO", "FR", "GG", "GI", "GR", "HR", "HU", "IE", "IL", "IM", "IS", "IT", "JE", "JP",
                "KR", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "NZ", "PL", "PT", "RO", "SE", "SI",
                "SK", "US", "UY",
            ],
            Self::Ch => &[
                "AD", "AR", "AT", "BE", "BG", "CA", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FO",
                "FR", "GB", "GG", "GI", "GR", "HR", "HU", "IE", "IL", "IM", "IS", "IT", "JE", "LI",
                "LT", "LU", "LV", "MC", "MT", "NL", "NO", "NZ", "PL", "PT", "RO", "SE", "SI", "SK",
                "US", "UY",
            ],
        }
    }
}

const EEA: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// The legal basis that makes a transfer lawful.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safeguard {
    AdequacyDecision,
    StandardContractualClauses,
    BindingCorporateRules,
    CodeOfConduct,
    Certification,
    /// A derogation for a specific situation (GDPR Art. 49).
    Derogation,
}

impl Safeguard {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdequacyDecision => "ADEQUACY_DECISION",
            Self::StandardContractualClauses => "STANDARD_CONTRACTUAL_CLAUSES",
            Self::BindingCorporateRules => "BINDING_CORPORATE_RULES",
            Self::CodeOfConduct => "CODE_OF_CONDUCT",
            Self::Certification => "CERTIFICATION",
            Self::Derogation => "DEROGATION",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        [
            Self::AdequacyDecision,
            Self::StandardContractualClauses,
            Self::BindingCorporateRules,
            Self::CodeOfConduct,
            Self::Certification,
            Self::Derogation,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// The module of the 2021 standard contractual clauses.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SccModule {
    /// Module 1.
    ControllerToController,
    /// Module 2.
    ControllerToProcessor,
    /// Module 3: what a processor signs with its subprocessor.
    ProcessorToProcessor,
    /// Module 4.
    ProcessorToController,
}

impl SccModule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ControllerToController => "CONTROLLER_TO_CONTROLLER",
            Self::ControllerToProcessor => "CONTROLLER_TO_PROCESSOR",
            Self::ProcessorToProcessor => "PROCESSOR_TO_PROCESSOR",
            Self::ProcessorToController => "PROCESSOR_TO_CONTROLLER",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        [
            Self::ControllerToController,
            Self::ControllerToProcessor,
            Self::ProcessorToProcessor,
            Self::ProcessorToController,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// A validated transfer record.
#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub origin: OriginRegion,
    pub destination: String,
    pub data_categories: Vec<DataCategory>,
    pub safeguard: Safeguard,
    pub scc_module: Option<SccModule>,
    pub instrument_reference: Option<String>,
    pub impact_assessed_at: Option<DateTime<Utc>>,
    pub supplementary_measures: Option<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub review_due_at: DateTime<Utc>,
}

/// A transfer as a client described it.
pub struct TransferParts<'a> {
    pub origin: OriginRegion,
    pub destination: &'a str,
    pub data_categories: &'a [DataCategory],
    pub safeguard: Option<Safeguard>,
    pub scc_module: Option<SccModule>,
    pub instrument_reference: Option<&'a str>,
    pub impact_assessed_at: Option<DateTime<Utc>>,
    pub supplementary_measures: Option<&'a str>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub review_due_at: DateTime<Utc>,
}

impl NewTransfer {
    /// Checks the transfer is one, that it rests on a safeguard that can carry it, and
    /// that its review is not already overdue.
    ///
    /// # Errors
    /// [`Invalid`] naming the field at fault, with the reason.
    pub fn parse(parts: TransferParts<'_>, now: DateTime<Utc>) -> Result<Self, Invalid> {
        let destination = CountryCode::parse("destinationCountry", parts.destination)?
            .as_str()
            .to_owned();
        let origin = parts.origin;
        if origin.members().contains(&destination.as_str()) {
            return Err(Invalid::new(
                "destinationCountry",
                format!(
                    "{destination} is inside {}: that is not an international transfer",
                    origin.as_str()
                ),
            ));
        }
        let Some(safeguard) = parts.safeguard else {
            return Err(Invalid::new(
                "safeguard",
                format!(
                    "a transfer from {} to {destination} needs a safeguard",
                    origin.as_str()
                ),
            ));
        };
        if safeguard == Safeguard::AdequacyDecision
            && !origin.adequate().contains(&destination.as_str())
        {
            return Err(Invalid::new(
                "safeguard",
                format!(
                    "no adequacy decision covers {destination} for transfers from {}",
                    origin.as_str()
                ),
            ));
        }
        if safeguard == Safeguard::StandardContractualClauses && parts.scc_module.is_none() {
            return Err(Invalid::new(
                "sccModule",
                "standard contractual clauses must name their module",
            ));
        }
        if safeguard != Safeguard::StandardContractualClauses && parts.scc_module.is_some() {
            return Err(Invalid::new(
                "sccModule",
                "only standard contractual clauses have a module",
            ));
        }
        let instrument_reference =
            optional_text("instrumentReference", parts.instrument_reference, 500)?;
        if !matches!(
            safeguard,
            Safeguard::AdequacyDecision | Safeguard::StandardContractualClauses
        ) && instrument_reference.is_none()
        {
            return Err(Invalid::new(
                "instrumentReference",
                format!("{} must name its instrument", safeguard.as_str()),
            ));
        }
        if parts.data_categories.is_empty() {
            return Err(Invalid::new(
                "dataCategories",
                "dataCategories must not be empty",
            ));
        }
        if parts.review_due_at <= now {
            return Err(Invalid::new(
                "reviewDueAt",
                "the review date is already past: review the transfer first",
            ));
        }
        let valid_from = parts.valid_from.unwrap_or(now);
        if parts.valid_until.is_some_and(|u| u <= valid_from) {
            return Err(Invalid::new(
                "validUntil",
                "validUntil must be after validFrom",
            ));
        }
        if parts.impact_assessed_at.is_some_and(|t| t > now) {
            return Err(Invalid::new(
                "impactAssessedAt",
                "a transfer impact assessment cannot be dated in the future",
            ));
        }
        let mut categories = Vec::new();
        for c in parts.data_categories {
            if !categories.contains(c) {
                categories.push(*c);
            }
        }
        Ok(Self {
            origin,
            destination,
            data_categories: categories,
            safeguard,
            scc_module: parts.scc_module,
            instrument_reference,
            impact_assessed_at: parts.impact_assessed_at,
            supplementary_measures: optional_text(
                "supplementaryMeasures",
                parts.supplementary_measures,
                2000,
            )?,
            valid_from,
            valid_until: parts.valid_until,
            review_due_at: parts.review_due_at,
        })
    }
}

/// How far ahead a review counts as due.
pub const REVIEW_NOTICE_DAYS: i64 = 30;

/// A transfer whose review date is within [`REVIEW_NOTICE_DAYS`] (or past) is flagged.
pub fn review_due(review_due_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    review_due_at <= now + chrono::Duration::days(REVIEW_NOTICE_DAYS)
}
