# echod_set_sanitizers(TARGET): instruments TARGET as ECHOD_SANITIZE asks.
#   address -> ASan + UBSan (UBSan findings abort, so a test fails on them)
#   thread  -> TSan
#   fuzzer  -> libFuzzer coverage + ASan + UBSan for libraries (clang; fuzz/ sets it)
function(echod_set_sanitizers target)
  if(ECHOD_SANITIZE STREQUAL "address")
    set(flags -fsanitize=address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)
  elseif(ECHOD_SANITIZE STREQUAL "thread")
    set(flags -fsanitize=thread -fno-omit-frame-pointer)
  elseif(ECHOD_SANITIZE STREQUAL "fuzzer")
    set(flags -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)
  elseif(ECHOD_SANITIZE STREQUAL "")
    return()
  else()
    message(FATAL_ERROR "ECHOD_SANITIZE must be empty, 'address', 'thread' or 'fuzzer'")
  endif()
  target_compile_options(${target} PRIVATE ${flags})
  target_link_options(${target} PRIVATE ${flags})
endfunction()

# echod_target_defaults(TARGET): warnings + sanitizers, the per-target defaults.
function(echod_target_defaults target)
  echod_set_warnings(${target})
  echod_set_sanitizers(${target})
  target_compile_features(${target} PUBLIC cxx_std_20)
endfunction()
