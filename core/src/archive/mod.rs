//! Reading image archives and layouts without doing I/O.
