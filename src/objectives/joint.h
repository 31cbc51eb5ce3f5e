/* Private to src/objectives (and its tests): knobs of the latent objectives
 * joint1 / joint2 / separate (joint.c). */
#ifndef DUET_OBJECTIVES_JOINT_H
#define DUET_OBJECTIVES_JOINT_H

#include "duet/objective.h"

/* Multiplies the loss terms' gradients: CE (L_ae), L_dif and the joint2
 * encoder pull (default 1, 1, 1). Tests use 0 to isolate one loss and check
 * the gradient routing of SPEC 2.5/2.6. */
void joint_set_loss_scales(duet_objective *o, double ce, double dif, double enc);

#endif
