//! The controller's own users act under the tenant's standing direct-request instruction,
//! whatever else is issued and whatever purpose their token names.

use crate::matrix::Actor::{Anonymous, ControllerAdmin, ControllerUser};
use crate::matrix::Op::{Create, Erase, List, Read, ReadAppointment, Update, UpdateAppointment};
use crate::matrix::Under::Standing;
use crate::matrix::{Case, Expect, Rec, TokenPurpose, allowed, instr, matrix, unrecorded};

/// Every contact field but `appointments` (a nested access of its own).
pub const EVERY_FIELD: &[&str] = &[
    "firstName",
    "lastName",
    "tags",
    "source",
    "emails",
    "phones",
    "addresses",
    "employer",
    "jobTitle",
    "customFields",
    "marketingPreferences",
    "optOutOfSale",
    "optOutOfSharing",
];

matrix! {
    controller_admin_reads_every_category_under_the_standing_instruction:
        Case::new(ControllerAdmin, Read(EVERY_FIELD)).expect(allowed(Standing));
    controller_user_reads_every_category_under_the_standing_instruction:
        Case::new(ControllerUser, Read(EVERY_FIELD)).expect(allowed(Standing));
    controller_user_lists_contacts_with_every_category:
        Case::new(ControllerUser, List(EVERY_FIELD)).expect(allowed(Standing));
    controller_user_updates_every_category_of_a_contact:
        Case::new(ControllerUser, Update(EVERY_FIELD)).expect(allowed(Standing));
    controller_admin_creates_a_contact_with_every_category:
        Case::new(ControllerAdmin, Create(EVERY_FIELD)).expect(allowed(Standing));
    controller_user_erases_a_contact_under_the_standing_instruction:
        Case::new(ControllerUser, Erase).expect(allowed(Standing));
    controller_reads_an_appointment_under_the_standing_instruction:
        Case::new(ControllerUser, ReadAppointment(&["title", "location", "notes"]))
            .expect(allowed(Standing));
    controller_updates_an_appointment_under_the_standing_instruction:
        Case::new(ControllerUser, UpdateAppointment).expect(allowed(Standing));
    controller_reading_a_contacts_appointments_is_recorded_as_a_second_access:
        Case::new(ControllerAdmin, Read(&["firstName", "appointments"])).expect(Expect {
            records: vec![Rec::Allowed(Standing), Rec::AppointmentsAllowed(Standing)],
            ..allowed(Standing)
        });
    controller_tokens_purpose_is_ignored_for_the_standing_instruction:
        Case::new(ControllerAdmin, Read(&["firstName", "employer"]))
            .purpose(TokenPurpose::Other)
            .expect(allowed(Standing));
    controller_user_is_not_narrowed_by_an_instruction_issued_for_staff:
        Case::new(ControllerUser, Read(&["firstName", "employer"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .expect(allowed(Standing));
    anonymous_caller_is_unauthenticated_and_nothing_is_recorded:
        Case::new(Anonymous, Read(&["firstName"])).expect(unrecorded("UNAUTHENTICATED"));
}
