file(READ "${IN}" content)
set(delim "FLOTILLA_RT_HDR")
file(WRITE "${OUT}" "// Generated from wasm-rt.h; do not edit.\nnamespace flotilla::engine::detail {\nextern const char* const kRuntimeHeader;\nconst char* const kRuntimeHeader = R\"${delim}(${content})${delim}\";\n}\n")
