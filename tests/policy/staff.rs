//! Processor staff act only under an active instruction of the tenant that covers their
//! actor kind, their token's purpose, the operation and the data categories.

use crate::matrix::Actor::Staff;
use crate::matrix::Named;
use crate::matrix::Op::{
    Create, Erase, EraseAppointment, List, Read, ReadAppointment, Update, UpdateAppointment,
};
use crate::matrix::State::{Expired, NotYetValid, Revoked};
use crate::matrix::TokenPurpose::{Absent, Other};
use crate::matrix::Under::{First, Second};
use crate::matrix::{Case, Expect, Rec, allowed, denied, instr, matrix, partial, refused_whole};

pub const EVERY_CATEGORY: &[&str] = &[
    "IDENTITY",
    "CONTACT_DETAILS",
    "EMPLOYMENT",
    "APPOINTMENTS",
    "CUSTOM_FIELDS",
    "PREFERENCES",
];

const NONE_COVERS: &str = "no active instruction covers PROCESSOR_STAFF";

matrix! {
    // The instruction: none, active, revoked, expired, not yet valid, another purpose,
    // another actor kind, another operation.
    staff_without_any_instruction_is_refused_and_the_refusal_recorded:
        Case::new(Staff, Read(&["firstName"])).expect(denied(NONE_COVERS));
    staff_under_an_active_instruction_reads_the_covered_fields:
        Case::new(Staff, Read(&["firstName", "lastName", "emails", "phones"]))
            .under(instr(&["IDENTITY", "CONTACT_DETAILS"], &["READ"]))
            .expect(allowed(First));
    staff_under_a_revoked_instruction_is_refused:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]).state(Revoked))
            .expect(denied(NONE_COVERS));
    staff_under_an_expired_instruction_is_refused:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]).state(Expired))
            .expect(denied(NONE_COVERS));
    staff_under_an_instruction_not_yet_valid_is_refused:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]).state(NotYetValid))
            .expect(denied(NONE_COVERS));
    staff_whose_token_names_another_purpose_is_refused:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .purpose(Other)
            .expect(denied("READ for SECURITY"));
    staff_under_an_instruction_for_another_purpose_is_refused:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]).purpose("EMAIL_MARKETING"))
            .expect(denied("READ for SUPPORT"));
    staff_whose_token_names_no_purpose_is_refused:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .purpose(Absent)
            .expect(denied("names no purpose"));
    staff_outside_the_instructions_actor_kinds_is_refused:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]).kinds(&["PLATFORM_ADMIN"]))
            .expect(denied(NONE_COVERS));
    staff_read_under_a_write_only_instruction_is_refused:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(EVERY_CATEGORY, &["WRITE"]))
            .expect(denied("PROCESSOR_STAFF READ"));
    // NOTE: the record names no instruction, though the tenant's SUPPORT instruction for
    // staff is the one found wanting (it lacks WRITE); `AccessRecord.instructionId` is
    // documented as "the instruction that allowed it (or that was found wanting)". Only
    // refusals for data categories name it.
    staff_write_under_a_read_only_instruction_is_refused:
        Case::new(Staff, Update(&["firstName"]))
            .under(instr(EVERY_CATEGORY, &["READ"]))
            .expect(denied("PROCESSOR_STAFF WRITE"));
    staff_erase_under_an_instruction_without_erase_is_refused:
        Case::new(Staff, Erase)
            .under(instr(EVERY_CATEGORY, &["READ", "WRITE"]))
            .expect(denied("PROCESSOR_STAFF ERASE"));

    // Categories covering some of the fields: a read answers the covered ones, a write
    // is refused whole.
    staff_read_outside_the_instructions_categories_returns_the_covered_fields_only:
        Case::new(Staff, Read(&["firstName", "employer", "emails", "customFields"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .expect(partial(&["employer", "emails", "customFields"], First));
    staff_read_of_uncovered_fields_only_is_refused_whole:
        Case::new(Staff, Read(&["employer", "jobTitle"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .expect(refused_whole(&["employer", "jobTitle"], First));
    staff_read_of_fields_that_are_not_personal_data_needs_no_category:
        Case::new(Staff, Read(&[]))
            .under(instr(&["PREFERENCES"], &["READ"]))
            .expect(allowed(First));
    staff_listing_under_a_covering_instruction_answers_every_field:
        Case::new(Staff, List(&["firstName", "emails"]))
            .under(instr(&["IDENTITY", "CONTACT_DETAILS"], &["READ"]))
            .expect(allowed(First));
    staff_listing_outside_the_instructions_categories_nulls_the_uncovered_fields_of_each_node:
        Case::new(Staff, List(&["firstName", "employer"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .expect(partial(&["employer"], First));
    staff_listing_without_any_instruction_is_refused:
        Case::new(Staff, List(&["firstName"])).expect(denied(NONE_COVERS));
    staff_update_inside_the_instructions_categories_is_applied:
        Case::new(Staff, Update(&["firstName", "lastName", "tags"]))
            .under(instr(&["IDENTITY"], &["READ", "WRITE"]))
            .expect(allowed(First));
    staff_update_touching_an_uncovered_category_is_refused_whole:
        Case::new(Staff, Update(&["firstName", "employer"]))
            .under(instr(&["IDENTITY"], &["WRITE"]))
            .expect(refused_whole(&["employer"], First));
    staff_create_inside_the_instructions_categories_is_applied:
        Case::new(Staff, Create(&["firstName", "emails"]))
            .under(instr(&["IDENTITY", "CONTACT_DETAILS"], &["WRITE"]))
            .expect(allowed(First));
    staff_create_touching_an_uncovered_category_is_refused_whole:
        Case::new(Staff, Create(&["firstName", "customFields"]))
            .under(instr(&["IDENTITY"], &["WRITE"]))
            .expect(refused_whole(&["customFields"], First));
    staff_erase_under_an_erase_instruction_deletes_the_contact:
        Case::new(Staff, Erase)
            .under(instr(EVERY_CATEGORY, &["ERASE"]))
            .expect(allowed(First));
    // Erasing a contact erases every category of its data (its appointments with it), so
    // an instruction to erase only some categories cannot delete it.
    staff_erase_under_an_instruction_covering_only_preferences_is_refused_whole:
        Case::new(Staff, Erase)
            .under(instr(&["PREFERENCES"], &["ERASE"]))
            .expect(refused_whole(
                &["firstName", "lastName", "tags", "source", "emails", "phones", "addresses",
                  "employer", "jobTitle", "appointments", "customFields"],
                First,
            ));

    // Each data category, alone in the instruction, against a field of another.
    staff_under_an_identity_instruction_reads_names_tags_and_source_only:
        Case::new(Staff, Read(&["firstName", "lastName", "tags", "source", "phones"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .expect(partial(&["phones"], First));
    staff_under_a_contact_details_instruction_reads_emails_phones_and_addresses_only:
        Case::new(Staff, Read(&["emails", "phones", "addresses", "lastName"]))
            .under(instr(&["CONTACT_DETAILS"], &["READ"]))
            .expect(partial(&["lastName"], First));
    staff_under_an_employment_instruction_reads_employer_and_job_title_only:
        Case::new(Staff, Read(&["employer", "jobTitle", "marketingPreferences"]))
            .under(instr(&["EMPLOYMENT"], &["READ"]))
            .expect(partial(&["marketingPreferences"], First));
    staff_under_a_custom_fields_instruction_reads_the_custom_fields_only:
        Case::new(Staff, Read(&["customFields", "optOutOfSale"]))
            .under(instr(&["CUSTOM_FIELDS"], &["READ"]))
            .expect(partial(&["optOutOfSale"], First));
    staff_under_a_preferences_instruction_reads_marketing_choices_and_opt_outs_only:
        Case::new(Staff, Read(&["marketingPreferences", "optOutOfSale", "optOutOfSharing", "jobTitle"]))
            .under(instr(&["PREFERENCES"], &["READ"]))
            .expect(partial(&["jobTitle"], First));
    staff_under_an_appointments_instruction_reads_an_appointment:
        Case::new(Staff, ReadAppointment(&["title", "location", "notes"]))
            .under(instr(&["APPOINTMENTS"], &["READ"]))
            .expect(allowed(First));
    staff_without_appointments_in_the_instruction_is_refused_an_appointment:
        Case::new(Staff, ReadAppointment(&["title", "location"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .expect(refused_whole(&["title", "location"], First));
    staff_without_appointments_in_the_instruction_sees_a_contacts_appointments_refused:
        Case::new(Staff, Read(&["firstName", "appointments"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .expect(partial(&["appointments"], First));
    staff_reading_a_contacts_appointments_is_recorded_as_a_second_access:
        Case::new(Staff, Read(&["firstName", "appointments"]))
            .under(instr(&["IDENTITY", "APPOINTMENTS"], &["READ"]))
            .expect(Expect {
                records: vec![Rec::Allowed(First), Rec::AppointmentsAllowed(First)],
                ..allowed(First)
            });
    staff_updates_an_appointment_under_an_appointments_write_instruction:
        Case::new(Staff, UpdateAppointment)
            .under(instr(&["APPOINTMENTS"], &["WRITE"]))
            .expect(allowed(First));
    staff_erases_an_appointment_under_an_appointments_erase_instruction:
        Case::new(Staff, EraseAppointment)
            .under(instr(&["APPOINTMENTS"], &["ERASE"]))
            .expect(allowed(First));
    staff_appointment_erase_without_appointments_in_the_instruction_is_refused_whole:
        Case::new(Staff, EraseAppointment)
            .under(instr(&["IDENTITY"], &["ERASE"]))
            .expect(refused_whole(&["startsAt", "endsAt", "title", "location", "notes"], First));
    staff_appointment_update_without_appointments_in_the_instruction_is_refused_whole:
        Case::new(Staff, UpdateAppointment)
            .under(instr(&["IDENTITY"], &["WRITE"]))
            .expect(refused_whole(&["title"], First));

    // A token naming one instruction, and the choice among several.
    staff_naming_its_instruction_acts_under_it:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .naming(Named::First)
            .expect(allowed(First));
    staff_naming_a_narrower_instruction_gets_only_what_that_one_covers:
        Case::new(Staff, Read(&["firstName", "employer"]))
            .under(instr(&["IDENTITY", "EMPLOYMENT"], &["READ"]))
            .and(instr(&["IDENTITY"], &["READ"]))
            .naming(Named::Second)
            .expect(partial(&["employer"], Second));
    staff_naming_an_unknown_instruction_is_refused:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .naming(Named::Unknown)
            .expect(denied(NONE_COVERS));
    staff_naming_a_revoked_instruction_is_refused_though_another_is_active:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]).state(Revoked))
            .and(instr(&["IDENTITY"], &["READ"]))
            .naming(Named::First)
            .expect(denied(NONE_COVERS));
    staff_with_two_instructions_acts_under_the_one_covering_most_of_the_request:
        Case::new(Staff, Read(&["firstName", "employer"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .and(instr(&["IDENTITY", "EMPLOYMENT"], &["READ"]))
            .expect(allowed(Second));
    staff_with_two_equally_covering_instructions_acts_under_the_oldest:
        Case::new(Staff, Read(&["firstName"]))
            .under(instr(&["IDENTITY"], &["READ"]))
            .and(instr(&["IDENTITY", "PREFERENCES"], &["READ"]))
            .expect(allowed(First));
}
