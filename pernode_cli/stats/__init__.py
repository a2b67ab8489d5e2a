"""Statistics: pure functions over arrays and data frames returning immutable records. No I/O."""
