//! The platform admin is no controller: personal data takes a tenant in its token and an
//! instruction covering platform admins, like anyone's.

use crate::matrix::Actor::{PlatformAdmin, PlatformAdminWithoutTenant};
use crate::matrix::Op::{Erase, Read};
use crate::matrix::TokenPurpose::{Absent, Other};
use crate::matrix::Under::First;
use crate::matrix::{Case, Expect, allowed, denied, instr, matrix, partial, unrecorded};
use crate::staff::EVERY_CATEGORY;

const NONE_COVERS: &str = "no active instruction covers PLATFORM_ADMIN";

matrix! {
    platform_admin_without_a_tenant_is_refused_and_no_tenant_records_it:
        Case::new(PlatformAdminWithoutTenant, Read(&["firstName"]))
            .under(instr(EVERY_CATEGORY, &["READ"]))
            .expect(Expect {
                why: Some("needs a tenant and a processing instruction"),
                ..unrecorded("FORBIDDEN")
            });
    platform_admin_without_any_instruction_is_refused_and_the_refusal_recorded:
        Case::new(PlatformAdmin, Read(&["firstName"])).expect(denied(NONE_COVERS));
    platform_admin_under_an_instruction_for_platform_admins_reads_the_covered_fields_only:
        Case::new(PlatformAdmin, Read(&["firstName", "employer"]))
            .under(instr(&["IDENTITY"], &["READ"]).kinds(&["PLATFORM_ADMIN"]))
            .expect(partial(&["employer"], First));
    platform_admin_under_a_staff_only_instruction_is_refused:
        Case::new(PlatformAdmin, Read(&["firstName"]))
            .under(instr(EVERY_CATEGORY, &["READ"]).kinds(&["PROCESSOR_STAFF"]))
            .expect(denied(NONE_COVERS));
    platform_admin_whose_token_names_another_purpose_is_refused:
        Case::new(PlatformAdmin, Read(&["firstName"]))
            .under(instr(EVERY_CATEGORY, &["READ"]))
            .purpose(Other)
            .expect(denied("READ for SECURITY"));
    platform_admin_whose_token_names_no_purpose_is_refused:
        Case::new(PlatformAdmin, Read(&["firstName"]))
            .under(instr(EVERY_CATEGORY, &["READ"]))
            .purpose(Absent)
            .expect(denied("names no purpose"));
    platform_admin_under_an_erase_instruction_erases_a_contact:
        Case::new(PlatformAdmin, Erase)
            .under(instr(EVERY_CATEGORY, &["ERASE"]).kinds(&["PLATFORM_ADMIN"]))
            .expect(allowed(First));
}
