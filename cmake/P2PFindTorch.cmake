# Finds LibTorch for the learner: Debian's libtorch-dev (1.13, CPU) on CPU machines, or the
# LibTorch bundled with PyTorch (2.x, CUDA) on the GPU machine, located through python3.
find_package(Torch QUIET)
if(NOT Torch_FOUND)
  find_package(Python3 COMPONENTS Interpreter QUIET)
  if(Python3_Interpreter_FOUND)
    execute_process(
      COMMAND ${Python3_EXECUTABLE} -c "import torch; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE P2P_TORCH_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(P2P_TORCH_PREFIX)
      list(APPEND CMAKE_PREFIX_PATH ${P2P_TORCH_PREFIX})
      find_package(Torch QUIET)
    endif()
  endif()
endif()
if(NOT Torch_FOUND)
  message(FATAL_ERROR "P2P_TORCH=ON but LibTorch was not found: install Debian's libtorch-dev, "
                      "or set CMAKE_PREFIX_PATH to python3 -c 'import torch;print(torch.utils.cmake_prefix_path)'")
endif()
message(STATUS "p2pgrid: LibTorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX}")
