//! Contacts out of a grant's reach whatever its categories: restricted ones, and under
//! instructions that sell, share or market, those that opted out or objected.

use entities::{contact, processing_instruction};
use sea_orm::{ColumnTrait, Condition};

use crate::domain::contact::Consent;
use crate::domain::instruction::Purpose;

/// Contacts a grant may not reach, whatever its categories: those whose processing is
/// restricted (GDPR Art. 18), and under an instruction that sells or shares data or
/// markets by email, those that opted out of it or objected. They answer like missing
/// contacts and listings skip them; each refusal is recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exclusions {
    pub restricted: bool,
    pub opted_out_of_sale: bool,
    pub opted_out_of_sharing: bool,
    pub objected_to_email_marketing: bool,
}

impl Exclusions {
    /// What anyone but the controller acting under `instruction` may not reach.
    pub(super) fn under(instruction: &processing_instruction::Model, purpose: Purpose) -> Self {
        Self {
            restricted: true,
            opted_out_of_sale: instruction.involves_sale,
            opted_out_of_sharing: instruction.involves_sharing,
            objected_to_email_marketing: purpose == Purpose::EmailMarketing,
        }
    }

    pub fn any(&self) -> bool {
        *self != Self::default()
    }

    /// Why `contact` is out of reach, if it is.
    pub fn reason(&self, contact: &contact::Model) -> Option<&'static str> {
        if self.restricted && contact.restricted_at.is_some() {
            Some("the contact's processing is restricted")
        } else if self.opted_out_of_sale && contact.opt_out_sale {
            Some("the contact opted out of sale")
        } else if self.opted_out_of_sharing && contact.opt_out_sharing {
            Some("the contact opted out of sharing")
        } else if self.objected_to_email_marketing
            && contact.marketing_email == Consent::OptedOut.as_str()
        {
            Some("the contact objected to email marketing")
        } else {
            None
        }
    }

    /// The contacts within reach, as a condition on `contacts`.
    pub fn visible(&self) -> Condition {
        let mut c = Condition::all();
        if self.restricted {
            c = c.add(contact::Column::RestrictedAt.is_null());
        }
        if self.opted_out_of_sale {
            c = c.add(contact::Column::OptOutSale.eq(false));
        }
        if self.opted_out_of_sharing {
            c = c.add(contact::Column::OptOutSharing.eq(false));
        }
        if self.objected_to_email_marketing {
            c = c.add(contact::Column::MarketingEmail.ne(Consent::OptedOut.as_str()));
        }
        c
    }
}
