import { Inject, Injectable } from '@nestjs/common';
import type { DeliveryOtpConfig } from '../config/delivery-otp.config';
import { activeDigest, candidateDigests, codeLengthFor, drawCode, openCode, sealCode, sealContext } from '../handoff/handoff-code';
import { DELIVERY_OTP_CONFIG } from '../tokens';

export interface CodeMaterial {
  /** The code itself: only ever handed to the outbox (encrypted there) and never stored or logged. */
  code: string;
  sealed: string;
  hmacKeyId: string;
  hmac: string;
}

/** The configured keys applied to codes: draw, seal, open, digest. */
@Injectable()
export class CodeVault {
  constructor(@Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig) {}

  draw(shipmentId: string, merchantId: string | null): CodeMaterial {
    const code = drawCode(codeLengthFor(this.config.code, merchantId));
    const { kid, digest } = activeDigest(this.config.codeHmacKeys, shipmentId, code);
    return { code, sealed: sealCode(this.config.codeEncryptionKeys, code, sealContext(shipmentId)), hmacKeyId: kid, hmac: digest };
  }

  open(shipmentId: string, sealed: string): string {
    return openCode(this.config.codeEncryptionKeys, sealed, sealContext(shipmentId));
  }

  candidates(shipmentId: string, code: string): string[] {
    return candidateDigests(this.config.codeHmacKeys, shipmentId, code);
  }
}
