//! knet-controllers: see DESIGN.md.
