# Fails when a layer includes what it must not (run by CTest as echod.layering):
#   - the echo path (service/echo, service/config, common) includes no HTTP, JSON or
#     Prometheus header; config/ may use JSON in its .cpp files only (file format);
#   - prometheus-cpp headers appear only in the admin metrics .cpp files;
#   - cpp-httplib only in admin_server.cpp; no header of ours includes httplib or JSON.
# Usage: cmake -DROOT=<source dir> -P cmake/check_layering.cmake
file(GLOB_RECURSE sources RELATIVE ${ROOT} ${ROOT}/service/*.h ${ROOT}/service/*.cpp
  ${ROOT}/common/*.h ${ROOT}/common/*.cpp)
set(problems "")
foreach(f IN LISTS sources)
  file(STRINGS ${ROOT}/${f} includes REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS includes)
    set(bad "")
    if(line MATCHES "prometheus/" AND NOT f MATCHES "^service/admin/(metrics|process_metrics)\\.cpp$")
      set(bad "prometheus-cpp outside the metrics .cpp files")
    elseif(line MATCHES "httplib" AND NOT f STREQUAL "service/admin/admin_server.cpp")
      set(bad "cpp-httplib outside admin_server.cpp")
    elseif(line MATCHES "nlohmann" AND (f MATCHES "^(service/echo|common)/" OR f MATCHES "\\.h$"))
      set(bad "nlohmann/json in the echo path or in a header")
    endif()
    if(bad)
      string(APPEND problems "  ${f}: ${line}  (${bad})\n")
    endif()
  endforeach()
endforeach()
if(problems)
  message(FATAL_ERROR "layering broken:\n${problems}")
endif()
list(LENGTH sources n)
message(STATUS "layering holds across ${n} files")
