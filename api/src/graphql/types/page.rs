use async_graphql::SimpleObject;

use crate::pagination::Page;

/// Relay page information.
#[derive(SimpleObject, Debug, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub fn of<T>(page: &Page<T>, cursor: impl Fn(&T) -> String) -> Self {
        Self {
            has_next_page: page.has_next,
            has_previous_page: page.has_previous,
            start_cursor: page.items.first().map(&cursor),
            end_cursor: page.items.last().map(&cursor),
        }
    }
}
