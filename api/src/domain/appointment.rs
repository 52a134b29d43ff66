use chrono::{DateTime, Utc};

use super::{ContactId, Invalid, bounded_text, optional_text};

pub const MAX_TITLE: usize = 200;
pub const MAX_LOCATION: usize = 500;
pub const MAX_NOTES: usize = 10_000;

/// A validated appointment to book.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub contact_id: ContactId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub title: String,
    pub location: Option<String>,
    pub notes: Option<String>,
}

impl NewAppointment {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(
        contact_id: ContactId,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        title: &str,
        location: Option<&str>,
        notes: Option<&str>,
    ) -> Result<Self, Invalid> {
        check_order(starts_at, ends_at)?;
        Ok(Self {
            contact_id,
            starts_at: micros(starts_at),
            ends_at: micros(ends_at),
            title: bounded_text("title", title, MAX_TITLE, true)?,
            location: optional_text("location", location, MAX_LOCATION)?,
            notes: optional_text("notes", notes, MAX_NOTES)?,
        })
    }
}

/// Validated changes: `None` leaves a field; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct AppointmentChanges {
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub title: Option<String>,
    pub location: Option<Option<String>>,
    pub notes: Option<Option<String>>,
}

impl AppointmentChanges {
    /// The GraphQL names of the fields these changes set.
    pub fn field_names(&self) -> Vec<String> {
        [
            ("startsAt", self.starts_at.is_some()),
            ("endsAt", self.ends_at.is_some()),
            ("title", self.title.is_some()),
            ("location", self.location.is_some()),
            ("notes", self.notes.is_some()),
        ]
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| (*name).to_owned())
        .collect()
    }

    /// The start and end after the change, which must still be in order.
    ///
    /// # Errors
    /// [`Invalid`] on `endsAt` when the appointment would end before it starts.
    pub fn times(
        &self,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), Invalid> {
        let starts = self.starts_at.map_or(starts_at, micros);
        let ends = self.ends_at.map_or(ends_at, micros);
        check_order(starts, ends)?;
        Ok((starts, ends))
    }
}

fn check_order(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<(), Invalid> {
    if ends_at <= starts_at {
        return Err(Invalid::new("endsAt", "endsAt must be after startsAt"));
    }
    Ok(())
}

/// Stored precision (PostgreSQL keeps microseconds), so what is read back equals what was
/// written.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}
