//! knet-lab: see DESIGN.md.
