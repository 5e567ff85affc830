// The one source of a precompiled-header set (cmake/FusecheckPch.cmake): empty, because a
// set only exists to precompile its headers for the targets that reuse them.
