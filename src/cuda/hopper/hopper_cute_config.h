// CuTe configuration of the Hopper kernels; included before any CuTe header.
// The extended SM90 GMMA shapes give the selectors every N that is a multiple of 8
// (D 256's 80-key tiles: one 64x80x16 instruction per k-block instead of five
// 64x16x16). hopper_traits.h checks that the selected atoms span the whole tile.
#pragma once
#ifndef CUTE_SM90_EXTENDED_MMA_SHAPES_ENABLED
#define CUTE_SM90_EXTENDED_MMA_SHAPES_ENABLED 1
#endif
