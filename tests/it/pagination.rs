//! Pagination, ordering and filters (filled in by the pagination work).
