//! Label selectors: parsing the full string syntax and matching label sets.
