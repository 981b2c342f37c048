# Common compile settings for every target of the project.
set(RD_C_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wno-unused-parameter -Werror=implicit-function-declaration -Werror=vla)

if(RESNET_SANITIZE)
  string(REPLACE "," ";" _rd_san_list "${RESNET_SANITIZE}")
  set(RD_SAN_FLAGS -fsanitize=${RESNET_SANITIZE} -fno-omit-frame-pointer -g)
  if("undefined" IN_LIST _rd_san_list)
    list(APPEND RD_SAN_FLAGS -fno-sanitize-recover=undefined)
  endif()
  foreach(_rd_flag IN LISTS RD_SAN_FLAGS) # one generator expression per flag
    add_compile_options($<$<COMPILE_LANGUAGE:C>:${_rd_flag}>)
  endforeach()
  add_link_options(${RD_SAN_FLAGS})
endif()

# rd_target_defaults(target): warnings, include root, version defines.
function(rd_target_defaults tgt)
  target_compile_options(${tgt} PRIVATE $<$<COMPILE_LANGUAGE:C>:${RD_C_WARNINGS}>)
  target_compile_options(${tgt} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wno-unused-parameter>)
  target_include_directories(${tgt} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(${tgt} PRIVATE _GNU_SOURCE)
endfunction()
