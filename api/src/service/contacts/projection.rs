//! How a contact is read: which columns a read loads (a [`Projection`] of the fields it
//! answers) and how a row is decoded ([`Row`], by position).

use entities::contact;
use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseBackend, IdenStatic, Iterable, QuerySelect, Select};

/// Which of a contact's larger columns a read loads. The key, the version, the names, the
/// timestamps the cursors are made of and every column the grant's exclusions test are
/// always loaded; the others only when a field that shows them is selected. An unloaded
/// column arrives as a typed empty constant, so the row still decodes into a
/// [`contact::Model`] while the database neither reads it nor sends it and the server
/// decodes nothing for it: a page of names costs what the names cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Projection(u16);

impl Projection {
    pub(crate) const ALL: Projection = Projection(u16::MAX);

    /// The optional columns, each with the GraphQL fields that show it.
    const COLUMNS: [(contact::Column, Blank, &'static [&'static str]); 10] = [
        (contact::Column::Emails, Blank::Json, &["emails"]),
        (contact::Column::Phones, Blank::Json, &["phones"]),
        (contact::Column::Addresses, Blank::Json, &["addresses"]),
        (
            contact::Column::CustomFields,
            Blank::Json,
            &["customFields"],
        ),
        (contact::Column::Tags, Blank::Json, &["tags"]),
        (contact::Column::Employer, Blank::Null, &["employer"]),
        (contact::Column::JobTitle, Blank::Null, &["jobTitle"]),
        (
            contact::Column::MarketingSms,
            Blank::Text,
            &["marketingPreferences"],
        ),
        (
            contact::Column::MarketingPhone,
            Blank::Text,
            &["marketingPreferences"],
        ),
        (contact::Column::SearchText, Blank::Text, &[]),
    ];

    /// The columns that answer `fields` (GraphQL names, as the ledger records them).
    pub(crate) fn of(fields: &[String]) -> Projection {
        let mut bits = 0u16;
        for (i, (_, _, shown_by)) in Self::COLUMNS.iter().enumerate() {
            if shown_by
                .iter()
                .any(|f| fields.iter().any(|asked| asked == f))
            {
                bits |= 1 << i;
            }
        }
        Projection(bits)
    }

    /// `select` with its columns in [`contact::Column`] order, each loaded or blank:
    /// what [`Row`] decodes.
    pub(super) fn apply(
        self,
        select: Select<contact::Entity>,
        backend: DatabaseBackend,
    ) -> Select<contact::Entity> {
        let mut select = select.select_only();
        for column in contact::Column::iter() {
            let optional = Self::COLUMNS
                .iter()
                .position(|(o, _, _)| o.as_str() == column.as_str());
            select = match optional {
                Some(i) if self.0 & (1 << i) == 0 => {
                    select.column_as(Expr::cust(Self::COLUMNS[i].1.sql(backend)), column.as_str())
                }
                _ => select.column(column),
            };
        }
        select
    }
}

/// A contact's fields in [`contact::Column`] order, each decoded by `$get!()` from the next
/// column (`$get!(id)` for a key): the one list both decoders below use, so their orders
/// cannot drift apart.
macro_rules! in_column_order {
    ($get:ident) => {
        contact::Model {
            tenant_id: $get!(id),
            id: $get!(id),
            first_name: $get!(),
            last_name: $get!(),
            emails: $get!(),
            phones: $get!(),
            addresses: $get!(),
            employer: $get!(),
            job_title: $get!(),
            custom_fields: $get!(),
            tags: $get!(),
            source: $get!(),
            marketing_email: $get!(),
            marketing_sms: $get!(),
            marketing_phone: $get!(),
            opt_out_sale: $get!(),
            opt_out_sharing: $get!(),
            search_text: $get!(),
            version: $get!(),
            restricted_at: $get!(),
            created_at: $get!(),
            updated_at: $get!(),
        }
    };
}

/// A contact row decoded by position (a [`Projection`]'s select has every column, in
/// [`contact::Column`] order): decoding by name, sea-orm formats each column's name
/// anew for every row, a fifth of the instructions of decoding a page.
pub(super) struct Row(pub(super) contact::Model);

impl sea_orm::FromQueryResult for Row {
    fn from_query_result(row: &sea_orm::QueryResult, _: &str) -> Result<Self, sea_orm::DbErr> {
        if let Some(row) = row.try_as_pg_row() {
            return Row::from_pg(row);
        }
        let mut i = 0..;
        let mut next = || i.next().unwrap_or_default();
        macro_rules! get {
            ($($key:ident)?) => {
                row.try_get_by_index(next())?
            };
        }
        Ok(Row(in_column_order!(get)))
    }
}

impl Row {
    /// A PostgreSQL row decoded by sqlx without its type check. The check compares each
    /// column's type with the Rust type asked for, on every column of every row (through
    /// sea-orm, a tenth of a 20-contact page's instructions), and proves nothing here: the
    /// select is this module's, its columns the entity's and its blanks cast to their
    /// columns' types, and the suite reads every column through it on PostgreSQL.
    fn from_pg(row: &sea_orm::sqlx::postgres::PgRow) -> Result<Self, sea_orm::DbErr> {
        use sea_orm::sqlx::Row as _;
        let mut i = 0..;
        let mut next = || i.next().unwrap_or_default();
        macro_rules! get {
            () => {
                row.try_get_unchecked(next())
                    .map_err(|e| sea_orm::DbErr::Type(e.to_string()))?
            };
            (id) => {
                uuid::Uuid::into(get!())
            };
        }
        Ok(Row(in_column_order!(get)))
    }
}

/// What an unloaded column holds instead, typed so it decodes like the column.
#[derive(Debug, Clone, Copy)]
enum Blank {
    Json,
    Text,
    Null,
}

impl Blank {
    fn sql(self, backend: DatabaseBackend) -> &'static str {
        let postgres = backend == DatabaseBackend::Postgres;
        match (self, postgres) {
            (Blank::Json, true) => "'[]'::jsonb",
            (Blank::Json, false) => "'[]'",
            (Blank::Text, true) => "''::text",
            (Blank::Text, false) => "''",
            (Blank::Null, true) => "NULL::text",
            (Blank::Null, false) => "NULL",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Row`] decodes by position, in this order: the entity's.
    #[test]
    fn rows_decode_in_the_entitys_column_order() {
        let names: Vec<&str> = contact::Column::iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "tenant_id",
                "id",
                "first_name",
                "last_name",
                "emails",
                "phones",
                "addresses",
                "employer",
                "job_title",
                "custom_fields",
                "tags",
                "source",
                "marketing_email",
                "marketing_sms",
                "marketing_phone",
                "opt_out_sale",
                "opt_out_sharing",
                "search_text",
                "version",
                "restricted_at",
                "created_at",
                "updated_at",
            ]
        );
    }

    #[test]
    fn a_projection_loads_what_the_fields_show_and_what_the_policy_tests() {
        let fields = |f: &[&str]| f.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let names = Projection::of(&fields(&["id", "firstName", "emails"]));
        let loaded: Vec<&str> = Projection::COLUMNS
            .iter()
            .enumerate()
            .filter(|(i, _)| names.0 & (1 << i) != 0)
            .map(|(_, (c, _, _))| c.as_str())
            .collect();
        assert_eq!(loaded, ["emails"]);
        let marketing = Projection::of(&fields(&["marketingPreferences"]));
        assert_eq!(
            marketing.0.count_ones(),
            2,
            "sms and phone (email is always loaded)"
        );
        assert_eq!(
            Projection::of(&super::super::personal_fields())
                .0
                .count_ones(),
            9,
            "all but search_text"
        );
    }
}
