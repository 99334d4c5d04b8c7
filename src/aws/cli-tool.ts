/**
 * The AWS CLI as a tool keyrack runs, and where it keeps its config: what the aws.config vault
 * declares at load time. Kept apart from the modules that read and edit files, so loading the
 * vault (which every `get` the daemon did not answer whole does) loads nothing more.
 */
import { join } from 'node:path'
import type { ToolInfo } from '../ports.ts'

export const AWS_CLI: ToolInfo = {
  name: 'aws',
  install: {
    darwin: 'brew install awscli',
    linux: 'curl -fsSL https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip -o awscliv2.zip && unzip -q awscliv2.zip && sudo ./aws/install',
    default: 'see https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html',
  },
  purpose: 'AWS IAM Identity Center (SSO) sign-in (`aws sso login`)',
}

/** where the AWS CLI and SDKs read their config: $AWS_CONFIG_FILE or ~/.aws/config */
export function awsConfigPath(ctx: { env: Record<string, string | undefined> }): string {
  return ctx.env.AWS_CONFIG_FILE || join(ctx.env.HOME || '/', '.aws', 'config')
}
