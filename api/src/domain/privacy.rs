//! The vocabulary of data-subject requests and legal holds, and the deadline rules of each
//! regime: pure functions of dates, so every rule is tested without a database.

use async_graphql::Enum;
use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};

/// The processor's contractual assistance window, in days from a request's opening,
/// when the contract says nothing else.
pub const DEFAULT_ASSISTANCE_DAYS: i32 = 10;
/// A request is "due soon" this many days before its statutory due date.
pub const DUE_SOON_DAYS: i64 = 7;

stored_enum!(
    /// What the data subject asks for.
    RequestKind {
        Access => "ACCESS",
        Portability => "PORTABILITY",
        Rectification => "RECTIFICATION",
        Erasure => "ERASURE",
        Restriction => "RESTRICTION",
        Objection => "OBJECTION",
        OptOutOfSale => "OPT_OUT_OF_SALE",
        OptOutOfSharing => "OPT_OUT_OF_SHARING",
    }
);

stored_enum!(
    /// The law the request is made under, which sets its deadline.
    Regime {
        Gdpr => "GDPR",
        UkGdpr => "UK_GDPR",
        SwissFadp => "SWISS_FADP",
        Ccpa => "CCPA",
        Nevada => "NEVADA",
    }
);

stored_enum!(
    /// Where a request stands.
    RequestStatus {
        /// Recorded by the platform admin from a subject who contacted the processor; the
        /// controller has not opened it, and nothing is executed until it does.
        Referred => "REFERRED",
        Received => "RECEIVED",
        InProgress => "IN_PROGRESS",
        /// The clock is stopped: awaiting identity verification or clarification.
        Paused => "PAUSED",
        Completed => "COMPLETED",
        Denied => "DENIED",
        Withdrawn => "WITHDRAWN",
    }
);

stored_enum!(
    /// Why a request's clock is stopped.
    PauseReason {
        AwaitingIdentityVerification => "AWAITING_IDENTITY_VERIFICATION",
        AwaitingClarification => "AWAITING_CLARIFICATION",
    }
);

stored_enum!(
    /// How a subject's request reached the processor (referrals).
    Channel {
        Email => "EMAIL",
        Phone => "PHONE",
        Post => "POST",
        WebForm => "WEB_FORM",
        InPerson => "IN_PERSON",
    }
);

stored_enum!(
    /// The legal reason a hold keeps a contact from erasure and retention.
    HoldReason {
        LegalObligation => "LEGAL_OBLIGATION",
        Contract => "CONTRACT",
        LegalClaims => "LEGAL_CLAIMS",
        FinancialRecords => "FINANCIAL_RECORDS",
        SecurityIncident => "SECURITY_INCIDENT",
    }
);

stored_enum!(
    /// What a subprocessor is asked to do with a forwarded request.
    ForwardAction {
        Erase => "ERASE",
        Restrict => "RESTRICT",
        LiftRestriction => "LIFT_RESTRICTION",
        Object => "OBJECT",
        OptOutOfSale => "OPT_OUT_OF_SALE",
        OptOutOfSharing => "OPT_OUT_OF_SHARING",
    }
);

stored_enum!(
    /// The machine-readable forms of an export.
    ExportFormat {
        Json => "JSON",
        Csv => "CSV",
    }
);

impl RequestStatus {
    /// Still to be answered: the clock runs (or is paused).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Received | Self::InProgress | Self::Paused)
    }
}

impl RequestKind {
    /// What must be passed on to the subprocessors holding the subject's data.
    pub fn forward_action(self) -> Option<ForwardAction> {
        match self {
            Self::Erasure => Some(ForwardAction::Erase),
            Self::Restriction => Some(ForwardAction::Restrict),
            Self::Objection => Some(ForwardAction::Object),
            Self::OptOutOfSale => Some(ForwardAction::OptOutOfSale),
            Self::OptOutOfSharing => Some(ForwardAction::OptOutOfSharing),
            Self::Access | Self::Portability | Self::Rectification => None,
        }
    }

    /// The export formats a completed request offers.
    pub fn export_formats(self) -> &'static [ExportFormat] {
        match self {
            Self::Access => &[ExportFormat::Json],
            Self::Portability => &[ExportFormat::Json, ExportFormat::Csv],
            _ => &[],
        }
    }
}

/// An extension a regime allows once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    Days(i64),
    Months(u32),
}

impl Regime {
    /// Days from receipt to answer: 30 for the GDPR family (the policy's promise), 45 for
    /// CCPA, 60 for Nevada.
    pub fn answer_days(self) -> i64 {
        match self {
            Self::Gdpr | Self::UkGdpr | Self::SwissFadp => 30,
            Self::Ccpa => 45,
            Self::Nevada => 60,
        }
    }

    /// The one extension the regime allows: two further months under the GDPR family
    /// (Art. 12(3)), 45 days under CCPA, 30 under Nevada's law.
    pub fn extension(self) -> Extension {
        match self {
            Self::Gdpr | Self::UkGdpr | Self::SwissFadp => Extension::Months(2),
            Self::Ccpa => Extension::Days(45),
            Self::Nevada => Extension::Days(30),
        }
    }

    /// The statutory due date of a request received at `received`.
    pub fn due(self, received: DateTime<Utc>) -> DateTime<Utc> {
        received + Duration::days(self.answer_days())
    }

    /// `due` moved by the regime's extension.
    pub fn extended(self, due: DateTime<Utc>) -> DateTime<Utc> {
        match self.extension() {
            Extension::Days(d) => due + Duration::days(d),
            Extension::Months(m) => due.checked_add_months(Months::new(m)).unwrap_or(due),
        }
    }
}

/// The processor's own due date: its assistance window from the request's opening.
pub fn processor_due(opened: DateTime<Utc>, assistance_days: i32) -> DateTime<Utc> {
    opened + Duration::days(i64::from(assistance_days))
}

/// Where a due date stands at `now` for a request in `status`: a paused request's clock
/// is stopped, so it is neither due soon nor overdue while paused.
pub fn standing(
    status: RequestStatus,
    due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (bool, bool) {
    match (status, due) {
        (RequestStatus::Received | RequestStatus::InProgress, Some(due)) => {
            let overdue = now > due;
            let soon = !overdue && due - now <= Duration::days(DUE_SOON_DAYS);
            (soon, overdue)
        }
        _ => (false, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn each_regime_answers_in_its_own_number_of_days() {
        let received = at("2026-01-10T09:00:00Z");
        assert_eq!(Regime::Gdpr.due(received), at("2026-02-09T09:00:00Z"));
        assert_eq!(Regime::UkGdpr.due(received), at("2026-02-09T09:00:00Z"));
        assert_eq!(Regime::SwissFadp.due(received), at("2026-02-09T09:00:00Z"));
        assert_eq!(Regime::Ccpa.due(received), at("2026-02-24T09:00:00Z"));
        assert_eq!(Regime::Nevada.due(received), at("2026-03-11T09:00:00Z"));
    }

    #[test]
    fn an_extension_adds_two_months_under_the_gdpr_and_fixed_days_elsewhere() {
        let due = at("2026-02-09T09:00:00Z");
        assert_eq!(Regime::Gdpr.extended(due), at("2026-04-09T09:00:00Z"));
        assert_eq!(Regime::Ccpa.extended(due), at("2026-03-26T09:00:00Z"));
        assert_eq!(Regime::Nevada.extended(due), at("2026-03-11T09:00:00Z"));
    }

    #[test]
    fn a_paused_request_is_neither_due_soon_nor_overdue() {
        let due = at("2026-02-09T09:00:00Z");
        let late = at("2026-02-10T09:00:00Z");
        assert_eq!(
            standing(RequestStatus::InProgress, Some(due), late),
            (false, true)
        );
        assert_eq!(
            standing(RequestStatus::Paused, Some(due), late),
            (false, false)
        );
        let close = at("2026-02-05T09:00:00Z");
        assert_eq!(
            standing(RequestStatus::Received, Some(due), close),
            (true, false)
        );
        assert_eq!(
            standing(RequestStatus::Completed, Some(due), late),
            (false, false)
        );
    }

    #[test]
    fn stored_forms_read_back() {
        for k in RequestKind::ALL {
            assert_eq!(RequestKind::from_db(k.as_str()), Some(*k));
        }
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::from_db(s.as_str()), Some(*s));
        }
    }
}
