//! knet-proxy: see DESIGN.md.
