"""Everything that runs untrusted code: the pool and zygote of validate's children,
the child's program runner, the Python guard, the kernel confinement and the typed
reply codec (DESIGN.md §4)."""
