# Finds the Arrow C++ libraries: the system's ArrowConfig.cmake when there is one,
# otherwise the libraries and headers bundled in the pinned pyarrow wheel. A wheel
# build (SKBUILD) always takes pyarrow's: the installed package loads them from the
# pyarrow it depends on.
#
# Defines IMPORTED targets flowsql::arrow, flowsql::arrow_compute, flowsql::acero,
# flowsql::dataset, flowsql::parquet and flowsql::s3 (Arrow's S3 filesystem; GCS and
# Azure are in libarrow itself).

if(NOT SKBUILD)
  find_package(Arrow CONFIG QUIET)
endif()
if(Arrow_FOUND)
  find_package(ArrowAcero CONFIG REQUIRED)
  find_package(ArrowDataset CONFIG REQUIRED)
  find_package(Parquet CONFIG REQUIRED)
  add_library(flowsql::arrow ALIAS Arrow::arrow_shared)
  add_library(flowsql::arrow_compute ALIAS Arrow::arrow_shared)
  add_library(flowsql::acero ALIAS ArrowAcero::arrow_acero_shared)
  add_library(flowsql::dataset ALIAS ArrowDataset::arrow_dataset_shared)
  add_library(flowsql::parquet ALIAS Parquet::parquet_shared)
  add_library(flowsql::s3 ALIAS Arrow::arrow_shared)
  return()
endif()

set(FLOWSQL_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "Python with the pinned pyarrow wheel")
execute_process(
  COMMAND "${FLOWSQL_PYTHON}" -c "import pyarrow, os; print(os.path.dirname(pyarrow.__file__))"
  OUTPUT_VARIABLE PYARROW_DIR OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "No system Arrow and no pyarrow in ${FLOWSQL_PYTHON}: run scripts/setup.sh")
endif()
message(STATUS "Arrow from the pyarrow wheel in ${PYARROW_DIR}")

# The wheel ships only versioned libraries (libarrow.so.2600): link them by full path
# and set the RPATH to the wheel's folder.
function(flowsql_wheel_lib target libname)
  file(GLOB candidates "${PYARROW_DIR}/lib${libname}.so.*")
  list(FILTER candidates EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]+")
  list(LENGTH candidates n)
  if(n EQUAL 0)
    message(FATAL_ERROR "lib${libname}.so.* not found in ${PYARROW_DIR}")
  endif()
  list(GET candidates 0 path)
  add_library(${target} SHARED IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${path}"
    IMPORTED_NO_SONAME FALSE
    INTERFACE_INCLUDE_DIRECTORIES "${PYARROW_DIR}/include")
endfunction()

flowsql_wheel_lib(flowsql::arrow arrow)
flowsql_wheel_lib(flowsql::arrow_compute arrow_compute)
flowsql_wheel_lib(flowsql::acero arrow_acero)
flowsql_wheel_lib(flowsql::dataset arrow_dataset)
flowsql_wheel_lib(flowsql::parquet parquet)
flowsql_wheel_lib(flowsql::s3 arrow_s3)
set(CMAKE_BUILD_RPATH "${PYARROW_DIR}")
set(CMAKE_INSTALL_RPATH "${PYARROW_DIR}")
