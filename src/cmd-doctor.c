// SPDX-License-Identifier: MIT
#include "xarch.h"

int cmd_doctor(int argc, char **argv)
{
	return die("'doctor' is not implemented yet");
}
