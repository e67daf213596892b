//! knet-podnet: see DESIGN.md.
