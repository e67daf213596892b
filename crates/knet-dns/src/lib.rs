//! knet-dns: see DESIGN.md.
