/**
 * The sampling schedule of FLUX: {@link dev.likeness.models.scheduler.FlowMatchEulerScheduler}, diffusers'
 * flow-matching Euler scheduler with resolution-dependent shift.
 */
package dev.likeness.models.scheduler;
