//! IP/CIDR newtypes and address allocators.
