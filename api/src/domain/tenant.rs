use async_graphql::Enum;
use serde::{Deserialize, Serialize};

use super::{Invalid, bounded_text};

/// Where a controller's data subjects are, which decides the privacy regimes that apply.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Jurisdiction {
    /// European Economic Area (GDPR).
    #[graphql(name = "EEA")]
    #[serde(rename = "EEA")]
    Eea,
    /// United Kingdom (UK GDPR).
    #[graphql(name = "UK")]
    #[serde(rename = "UK")]
    Uk,
    /// Switzerland (FADP).
    #[graphql(name = "CH")]
    #[serde(rename = "CH")]
    Ch,
    /// California (CCPA/CPRA).
    UsCa,
    /// Nevada (NRS 603A).
    UsNv,
    Other,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
    /// At the end of its contract: nothing new is added; it is returned, then deleted.
    Offboarding,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Offboarding => "OFFBOARDING",
        }
    }

    pub fn from_db(value: &str) -> Self {
        match value {
            "SUSPENDED" => Self::Suspended,
            "OFFBOARDING" => Self::Offboarding,
            _ => Self::Active,
        }
    }
}

/// A validated request to open a controller account.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: String,
    pub jurisdictions: Vec<Jurisdiction>,
}

impl NewTenant {
    /// # Errors
    /// [`Invalid`] when the name is blank or too long, no jurisdiction is given, or the
    /// owner does not attest to being an adult (the service is not sold to minors).
    pub fn parse(
        name: &str,
        jurisdictions: &[Jurisdiction],
        owner_attests_adult: bool,
    ) -> Result<Self, Invalid> {
        let name = bounded_text("name", name, 200, true)?;
        if jurisdictions.is_empty() {
            return Err(Invalid::new(
                "jurisdictions",
                "jurisdictions must name at least one jurisdiction",
            ));
        }
        if !owner_attests_adult {
            return Err(Invalid::new(
                "ownerAttestsAdult",
                "the account owner must attest to being 18 or older",
            ));
        }
        let mut unique = Vec::with_capacity(jurisdictions.len());
        for j in jurisdictions {
            if !unique.contains(j) {
                unique.push(*j);
            }
        }
        Ok(Self {
            name,
            jurisdictions: unique,
        })
    }
}
